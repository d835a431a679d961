import { mapLimit } from '../concurrency.js';
import type { DockerClient } from '../docker/client.js';
import { measureTree, measureTrees, type TreeUsage } from '../fs/walk.js';
import { MAX_WALK_WORKERS } from '../fs/walk-pool.js';
import { errorMessage } from '../log.js';
import type { CheapFacts, SlowResults } from './context.js';
import type { Collector } from './registry.js';

export interface SlowContext {
  client: DockerClient;
  facts: CheapFacts;
  /** Settles when `facts.layers` and `facts.layerSource` are final; until then only containers and volumes are. */
  layersRead: Promise<void>;
  results: SlowResults;
  mountInfoPath: string;
  signal?: AbortSignal | undefined;
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

function failed(failures: string[]): void {
  if (failures.length > 0) {
    throw new Error(`${failures.length} walk(s) failed: ${failures.slice(0, 5).join('; ')}`);
  }
}

/**
 * Walks entities as many at a time as there are walk workers; a vanished entity is dropped,
 * other failures are reported together. An abort stops everything.
 */
async function walkEach<T>(
  items: readonly T[],
  label: (item: T) => string,
  walk: (item: T) => Promise<void>,
  signal: AbortSignal | undefined,
): Promise<void> {
  const failures: string[] = [];
  await mapLimit(items, MAX_WALK_WORKERS, async (item) => {
    try {
      await walk(item);
    } catch (err) {
      if (signal?.aborted) throw err;
      if (isMissing(err)) return;
      failures.push(`${label(item)}: ${errorMessage(err)}`);
    }
  });
  failed(failures);
}

/** Layer diff dirs per worker job: most hold a handful of entries. */
const LAYER_BATCH = 64;

/**
 * overlay2 is the only store whose layer and rw directories the agent knows how to read, and
 * only with its layerdb readable (the engine collector opened it): known before it is read.
 */
export function overlayWalkable(facts: Pick<CheapFacts, 'engine'>): boolean {
  return facts.engine.engine.imageStore === 'overlay2' && facts.engine.layerdbDir !== null;
}

/** The layer directories are known only from a layerdb that was read. */
export function layersWalkable(facts: CheapFacts): boolean {
  return overlayWalkable(facts) && facts.layerSource === 'layerdb';
}

/**
 * Apparent and allocated bytes of each layer's `overlay2/<cache-id>/diff`. A chainID's
 * content never changes, so a layer is walked once and the result kept (and persisted)
 * until the layer leaves the layerdb or its cache-id changes (re-pulled).
 */
export const layerUsageCollector: Collector<SlowContext> = {
  name: 'layer-usage',
  async collect({ facts, layersRead, results, signal }) {
    await layersRead;
    if (!layersWalkable(facts)) return;
    for (const chainId of results.layerUsage.keys()) {
      if (!facts.layers.has(chainId)) results.layerUsage.delete(chainId);
    }
    const todo = [...facts.layers.values()].flatMap(({ chainId, cacheId }) =>
      cacheId && results.layerUsage.get(chainId)?.cacheId !== cacheId ? [{ chainId, cacheId }] : [],
    );
    const batches: (typeof todo)[] = [];
    for (let i = 0; i < todo.length; i += LAYER_BATCH) batches.push(todo.slice(i, i + LAYER_BATCH));
    const failures: string[] = [];
    await mapLimit(batches, MAX_WALK_WORKERS, async (batch) => {
      const usages = await measureTrees(
        batch.map(({ cacheId }) => facts.engine.root.join('overlay2', cacheId, 'diff')),
        { signal },
      );
      batch.forEach(({ chainId, cacheId }, i) => {
        const usage: TreeUsage | Error | undefined = usages[i];
        if (usage === undefined || usage instanceof Error) {
          if (!isMissing(usage)) failures.push(`layer ${chainId}: ${errorMessage(usage)}`);
          return;
        }
        results.layerUsage.set(chainId, { cacheId, usage });
      });
    });
    failed(failures);
  },
};

/**
 * Each container's upper dir, re-walked every slow pass (it changes while the container
 * runs). Same rule as dockerd's `SizeRw`, plus allocated blocks. Never `merged/`: that is
 * the whole image seen through the overlay mount.
 */
export const containerUsageCollector: Collector<SlowContext> = {
  name: 'container-usage',
  async collect({ facts, results, signal }) {
    if (!overlayWalkable(facts)) return;
    const live = new Set(facts.containers.map((c) => c.id));
    for (const id of results.containerUsage.keys()) if (!live.has(id)) results.containerUsage.delete(id);
    await walkEach(
      facts.containers.flatMap(({ id, name, upperDir }) => (upperDir ? [{ id, name, upperDir }] : [])),
      (c) => `container ${c.name}`,
      async ({ id, upperDir }) => {
        results.containerUsage.set(id, { upperDir, usage: await measureTree(upperDir, { signal, priority: 1 }) });
      },
      signal,
    );
  },
};

/** Local volumes without driver options (the ones `docker system df` sizes), walked every slow pass. */
export const volumeUsageCollector: Collector<SlowContext> = {
  name: 'volume-usage',
  async collect({ facts, results, signal }) {
    const live = new Set(facts.volumes.map((v) => v.name));
    for (const name of results.volumeUsage.keys()) if (!live.has(name)) results.volumeUsage.delete(name);
    await walkEach(
      facts.volumes.filter((v) => v.walkable),
      (v) => `volume ${v.name}`,
      async (v) => {
        // A local volume's data can be a mount of its own; stay on the volume's filesystem.
        const usage = await measureTree(v.mountpoint, { signal, oneFileSystem: true, priority: 1 });
        results.volumeUsage.set(v.name, { mountpoint: v.mountpoint, usage });
      },
      signal,
    );
  },
};
