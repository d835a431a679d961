import type { DuplicateFile, DuplicateLayer } from '@ballast/shared';
import { compareNames } from './records.js';

export const DUPLICATE_FILES_LISTED = 100;
/** Copies listed per duplicate file; a file in hundreds of layers would otherwise bloat every snapshot. */
export const COPIES_LISTED = 50;

/**
 * Layers with the same content digest under different chainIDs. Empty layers (no regular
 * bytes) are left out: they cost nothing.
 */
export function duplicateLayers(
  layers: ReadonlyArray<{ chainId: string; contentDigest: string; regularBytes: number }>,
): DuplicateLayer[] {
  const groups = new Map<string, { bytes: number; chainIds: string[] }>();
  for (const l of layers) {
    if (l.regularBytes === 0) continue;
    const g = groups.get(l.contentDigest) ?? { bytes: l.regularBytes, chainIds: [] };
    g.chainIds.push(l.chainId);
    groups.set(l.contentDigest, g);
  }
  const out: DuplicateLayer[] = [];
  for (const [contentDigest, g] of groups) {
    if (g.chainIds.length < 2) continue;
    out.push({
      contentDigest,
      chainIds: g.chainIds.sort(compareNames),
      bytes: g.bytes,
      wastedBytes: g.bytes * (g.chainIds.length - 1),
    });
  }
  return out.sort((a, b) => b.wastedBytes - a.wastedBytes || compareNames(a.contentDigest, b.contentDigest));
}

export interface DuplicateFileSummary {
  files: DuplicateFile[];
  groups: number;
  wastedBytes: number;
}

/**
 * Content stored more than once on the host: regular files (already at least the indexing
 * threshold) with the same sha256 in different layers, or at different inodes of one layer.
 * `layerFiles` yields each layer's [contentHash, size, path] list; only the top offenders by
 * (copies − 1) × size are listed, all groups are counted.
 */
export async function duplicateFiles(
  layerFiles: AsyncIterable<{ chainId: string; files: ReadonlyArray<readonly [string, number, string]> }>,
  listed = DUPLICATE_FILES_LISTED,
): Promise<DuplicateFileSummary> {
  const byHash = new Map<string, { bytes: number; copies: Array<{ chainId: string; path: string }> }>();
  for await (const { chainId, files } of layerFiles) {
    for (const [hash, size, path] of files) {
      const g = byHash.get(hash);
      if (g) g.copies.push({ chainId, path });
      else byHash.set(hash, { bytes: size, copies: [{ chainId, path }] });
    }
  }
  const all: DuplicateFile[] = [];
  let wastedBytes = 0;
  for (const [hash, g] of byHash) {
    if (g.copies.length < 2) continue;
    const wasted = g.bytes * (g.copies.length - 1);
    wastedBytes += wasted;
    all.push({
      contentHash: `sha256:${hash}`,
      bytes: g.bytes,
      copies: g.copies
        .sort((a, b) => compareNames(a.chainId, b.chainId) || compareNames(a.path, b.path))
        .slice(0, COPIES_LISTED),
      copyCount: g.copies.length,
      wastedBytes: wasted,
    });
  }
  all.sort((a, b) => b.wastedBytes - a.wastedBytes || compareNames(a.contentHash, b.contentHash));
  return { files: all.slice(0, listed), groups: all.length, wastedBytes };
}
