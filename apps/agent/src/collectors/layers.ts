import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { readSmallFile, readSmallFiles } from '../fs/small-file.js';
import type { LayerMeta, ScanContext } from './context.js';
import type { Collector } from './registry.js';

/** The files of one `layerdb/sha256/<chainID>/` entry, in the order `layerMeta` takes them. */
const LAYER_FILES = ['diff', 'cache-id', 'size', 'parent'] as const;

/** One layerdb entry from its files' contents (null: missing); null while it is being registered. */
function layerMeta(chainHex: string, [diff, cacheId, size, parent]: (string | null)[]): LayerMeta | null {
  // A layer still being registered has no diff/size yet; it shows up next interval.
  if (diff == null || size == null || !/^\d+$/.test(size)) return null;
  const chainId = `sha256:${chainHex}`;
  return {
    chainId,
    // A base layer's chainID is its diffID: one string for both.
    diffId: diff === chainId ? chainId : diff,
    cacheId: cacheId || null,
    sizeBytes: Number(size),
    parent: parent || null,
  };
}

/**
 * Reads `layerdb/sha256/<chainID>/` entries: `diff`, `cache-id`, `size`, optional `parent`. With
 * the native walker, on the thread pool (about 40 % of the synchronous reads' CPU, and off the
 * event loop, which a first scan spends on the images meanwhile); else synchronously.
 */
export async function readLayerMetas(layerdbDir: string, chainHexes: readonly string[]): Promise<(LayerMeta | null)[]> {
  const sha256Dir = path.join(layerdbDir, 'sha256');
  const names = chainHexes.flatMap((hex) => LAYER_FILES.map((f) => `${hex}/${f}`));
  const contents = await readSmallFiles(sha256Dir, names);
  return chainHexes.map((hex, i) =>
    layerMeta(
      hex,
      contents.slice(i * LAYER_FILES.length, (i + 1) * LAYER_FILES.length).map((c) => (c === null ? null : c.trim())),
    ),
  );
}

/**
 * A layerdb listing stays valid while the directory's mtime is unchanged, but only if that
 * mtime was already this old when it was read: file timestamps come from a coarse clock, so an
 * entry added within the same tick as the read could leave the mtime as it was.
 */
const LISTING_SETTLED_NS = 2_000_000_000n;

/**
 * Every layer in the layerdb, including layers no image uses any more (kept by BuildKit
 * cache), plus which layer each container's rw layer sits on. Entries are immutable per
 * chainID, so each is read once per process; the directory is listed again only when its
 * mtime moved (BuildKit's GC removes layers without any engine event).
 */
export const layersCollector: Collector<ScanContext> = {
  name: 'layers',
  async collect(ctx) {
    const layers = new Map<string, LayerMeta>();
    const containerParents = new Map<string, string>();
    ctx.facts.layers = layers;
    ctx.facts.containerParents = containerParents;
    const layerdbDir = ctx.facts.engine?.layerdbDir;
    if (!layerdbDir) {
      ctx.facts.layerSource = 'none';
      return;
    }
    const sha256Dir = path.join(layerdbDir, 'sha256');
    const dirStat = await stat(sha256Dir, { bigint: true });
    const previous = ctx.layerListing;
    let names: string[];
    if (
      previous &&
      previous.dir === sha256Dir &&
      previous.mtimeNs === dirStat.mtimeNs &&
      previous.ino === dirStat.ino
    ) {
      names = previous.names;
    } else {
      names = (await readdir(sha256Dir)).filter((n) => /^[0-9a-f]{64}$/.test(n)).sort();
    }
    let complete = true;
    const unread = names.filter((hex) => !ctx.layerMetaCache.has(`sha256:${hex}`));
    const added: LayerMeta[] = [];
    for (const meta of await readLayerMetas(layerdbDir, unread)) {
      if (!meta) continue;
      ctx.layerMetaCache.set(meta.chainId, meta);
      added.push(meta);
    }
    for (const hex of names) {
      const meta = ctx.layerMetaCache.get(`sha256:${hex}`);
      if (meta) layers.set(meta.chainId, meta);
      else complete = false;
    }
    // A parent's chainID, read from its child's file, is another copy of a string the parent
    // already holds: share that one (a base layer sits under hundreds of layers).
    for (const meta of added) {
      if (meta.parent) meta.parent = layers.get(meta.parent)?.chainId ?? meta.parent;
    }
    for (const chainId of ctx.layerMetaCache.keys()) if (!layers.has(chainId)) ctx.layerMetaCache.delete(chainId);
    const settled = BigInt(Date.now()) * 1_000_000n - dirStat.mtimeNs > LISTING_SETTLED_NS;
    ctx.layerListing =
      complete && settled ? { dir: sha256Dir, mtimeNs: dirStat.mtimeNs, ino: dirStat.ino, names } : null;

    if (ctx.reuse && ctx.reuse.layerSource === 'layerdb') {
      // Containers (and so their rw layers) change only with an engine event.
      for (const [id, parent] of ctx.reuse.containerParents) containerParents.set(id, parent);
    } else {
      const mountIds = await readdir(path.join(layerdbDir, 'mounts')).catch(() => [] as string[]);
      for (const id of mountIds) {
        const parent = readSmallFile(path.join(layerdbDir, 'mounts', id, 'parent'))?.trim();
        if (parent) containerParents.set(id, parent);
      }
    }
    ctx.facts.layerSource = 'layerdb';
  },
};
