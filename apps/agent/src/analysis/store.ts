import { closeSync, fstatSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ImageWaste } from '@ballast/shared';
import { ZImageWaste } from '@ballast/shared';
import * as z from '@ballast/shared/zod';
import type { Pacer } from './budget.js';
import { hashLayer } from './hash-layer.js';
import { computeImageWaste, recordsSource } from './waste.js';

/** Files of at least this size are indexed for the duplicate-file finding. */
export const MIN_DUPLICATE_FILE_BYTES = 64 * 1024;

const count = z.int().check(z.nonnegative());

const ZLayerSummary = z.object({
  v: z.literal(1),
  chainId: z.string(),
  cacheId: z.string(),
  contentDigest: z.string(),
  entries: count,
  regularBytes: count,
  hashedFiles: count,
  bigFiles: z.array(z.tuple([z.string(), count, z.string()])),
  /** Length of the records file; absent in summaries whose records file was fsynced instead. */
  recordsBytes: z.optional(count),
});
export type LayerSummary = z.infer<typeof ZLayerSummary>;

/** What stays in memory per hashed layer (bigFiles are read from disk when aggregated). */
export interface LayerDigest {
  cacheId: string;
  contentDigest: string;
  regularBytes: number;
}

export interface LayerToHash {
  chainId: string;
  cacheId: string;
  diffDir: string;
  /** Directories the layer tar marks opaque (from the layerdb tar-split). */
  opaqueDirs: () => Promise<ReadonlySet<string>>;
}

export interface HashPassResult {
  layersHashed: number;
  filesHashed: number;
  bytesHashed: number;
  /** Layers left for a later pass because the pass budget ran out. */
  layersPending: number;
  failures: string[];
}

const hexOf = (id: string) => {
  const hex = id.startsWith('sha256:') ? id.slice(7) : id;
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`not a sha256 ID: ${id}`);
  return hex;
};

/**
 * Per-layer content lists and digests, kept forever by chainID under `<state dir>/content`
 * (a chainID's content never changes; an entry whose cache-id differs, a re-pulled layer, is
 * redone). Each layer's records file is written first and its summary last, naming the
 * records' length: a layer without a complete summary, or whose records are shorter than it
 * says, is hashed again, so a crash loses at most the layers not yet on disk.
 * Per-image waste is cached by image ID the same way (an image's layers never change).
 * Summaries and waste files are small and read and written synchronously: a threadpool round
 * trip per file cost more than the I/O itself, thousands of times over on a first pass.
 */
export class ContentStore {
  private readonly layers = new Map<string, LayerDigest>();
  private loaded = false;

  constructor(readonly dir: string) {}

  private layerFile(chainId: string, ext: 'json' | 'records'): string {
    return path.join(this.dir, 'layers', `${hexOf(chainId)}.${ext}`);
  }

  private imageFile(imageId: string): string {
    return path.join(this.dir, 'images', `${hexOf(imageId)}.json`);
  }

  recordsFile(chainId: string): string {
    return this.layerFile(chainId, 'records');
  }

  /** Loads the summaries on disk once and drops temporary files a crash left behind. */
  async load(): Promise<void> {
    if (this.loaded) return;
    await mkdir(path.join(this.dir, 'layers'), { recursive: true, mode: 0o700 });
    await mkdir(path.join(this.dir, 'images'), { recursive: true, mode: 0o700 });
    for (const name of await readdir(path.join(this.dir, 'images'))) {
      if (name.endsWith('.tmp')) await rm(path.join(this.dir, 'images', name), { force: true });
    }
    for (const name of await readdir(path.join(this.dir, 'layers'))) {
      const file = path.join(this.dir, 'layers', name);
      if (name.endsWith('.tmp')) {
        await rm(file, { force: true });
        continue;
      }
      if (!name.endsWith('.json')) continue;
      const summary = await this.readSummary(file);
      if (summary && this.recordsComplete(summary)) {
        this.layers.set(summary.chainId, {
          cacheId: summary.cacheId,
          contentDigest: summary.contentDigest,
          regularBytes: summary.regularBytes,
        });
      }
    }
    this.loaded = true;
  }

  /**
   * Records files are not fsynced (one fsync per layer cost more than the hashing on a host of
   * thousands of small layers): after a crash a records file can be shorter than its summary
   * says, and the layer is then hashed again.
   */
  private recordsComplete(summary: LayerSummary): boolean {
    if (summary.recordsBytes === undefined) return true;
    try {
      return statSync(this.layerFile(summary.chainId, 'records')).size === summary.recordsBytes;
    } catch {
      return false;
    }
  }

  private async readSummary(file: string): Promise<LayerSummary | null> {
    try {
      const parsed = ZLayerSummary.safeParse(JSON.parse(readFileSync(file, 'utf8')));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  digest(chainId: string, cacheId: string): LayerDigest | null {
    const d = this.layers.get(chainId);
    return d && d.cacheId === cacheId ? d : null;
  }

  async bigFiles(chainId: string): Promise<LayerSummary['bigFiles']> {
    return (await this.readSummary(this.layerFile(chainId, 'json')))?.bigFiles ?? [];
  }

  /**
   * Hashes the layers not hashed yet, one at a time, largest budget first-come: stops starting
   * new layers once the pacer's pass budget is spent. A layer that fails is reported and
   * retried next pass; the others go on.
   */
  async hashPending(layers: readonly LayerToHash[], pacer: Pacer): Promise<HashPassResult> {
    await this.load();
    const todo = layers.filter((l) => !this.digest(l.chainId, l.cacheId));
    const result: HashPassResult = { layersHashed: 0, filesHashed: 0, bytesHashed: 0, layersPending: 0, failures: [] };
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (const [i, layer] of todo.entries()) {
      if (pacer.exhausted()) {
        result.layersPending = todo.length - i;
        break;
      }
      try {
        const summary = await this.hashOne(layer, pacer, buffer);
        result.layersHashed += 1;
        result.filesHashed += summary.hashedFiles;
        result.bytesHashed += summary.regularBytes;
      } catch (err) {
        if ((err as Error | null)?.name === 'AbortError') throw err;
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // layer removed meanwhile
        result.failures.push(`layer ${layer.chainId}: ${(err as Error).message}`);
      }
    }
    return result;
  }

  private async hashOne(layer: LayerToHash, pacer: Pacer, buffer: Buffer): Promise<LayerSummary> {
    const records = this.layerFile(layer.chainId, 'records');
    const json = this.layerFile(layer.chainId, 'json');
    const opaqueDirs = await layer.opaqueDirs();
    if (this.layers.delete(layer.chainId)) {
      // A summary of the old cache-id would otherwise vouch for the records rewritten below.
      rmSync(json, { force: true });
    }
    const fd = openSync(records, 'w', 0o600);
    let hashed: Awaited<ReturnType<typeof hashLayer>>;
    let recordsBytes: number;
    try {
      hashed = await hashLayer(layer.diffDir, fd, {
        pacer,
        opaqueDirs,
        bigFileBytes: MIN_DUPLICATE_FILE_BYTES,
        buffer,
      });
      recordsBytes = fstatSync(fd).size;
    } catch (err) {
      closeSync(fd);
      await rm(records, { force: true });
      throw err;
    }
    closeSync(fd);
    const summary: LayerSummary = { v: 1, chainId: layer.chainId, cacheId: layer.cacheId, ...hashed, recordsBytes };
    writeFileSync(json, JSON.stringify(summary), { mode: 0o600 });
    this.layers.set(layer.chainId, {
      cacheId: layer.cacheId,
      contentDigest: summary.contentDigest,
      regularBytes: summary.regularBytes,
    });
    return summary;
  }

  /**
   * The image's waste, from the cache or by merging its layers' records (bottom first in
   * `chainIds`, as Docker lists them). Null while a layer is not hashed yet.
   */
  async imageWaste(imageId: string, chainIds: readonly string[]): Promise<ImageWaste | null> {
    const file = this.imageFile(imageId);
    try {
      const cached = ZImageWaste.safeParse(JSON.parse(readFileSync(file, 'utf8')));
      if (cached.success) return cached.data;
    } catch {}
    if (!chainIds.every((id) => this.layers.has(id))) return null;
    const sources = [...chainIds].reverse().map((id) => recordsSource(id, this.recordsFile(id)));
    let waste: ImageWaste;
    try {
      waste = computeImageWaste(imageId, sources);
    } finally {
      for (const s of sources) s.close();
    }
    // A torn file fails to parse above and is computed again.
    writeFileSync(file, JSON.stringify(waste), { mode: 0o600 });
    return waste;
  }

  /** Forgets layers and images no longer on the host. */
  async prune(liveChainIds: ReadonlySet<string>, liveImageIds: ReadonlySet<string>): Promise<void> {
    await this.load();
    for (const chainId of [...this.layers.keys()]) {
      if (liveChainIds.has(chainId)) continue;
      this.layers.delete(chainId);
      await rm(this.layerFile(chainId, 'json'), { force: true });
      await rm(this.layerFile(chainId, 'records'), { force: true });
    }
    // An empty image list is more likely a failed read than a host without images: keep the cache.
    if (liveImageIds.size === 0) return;
    for (const name of await readdir(path.join(this.dir, 'images'))) {
      if (!name.endsWith('.json')) continue;
      if (!liveImageIds.has(`sha256:${name.slice(0, -5)}`))
        await rm(path.join(this.dir, 'images', name), { force: true });
    }
  }
}
