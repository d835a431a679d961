import type { BuildCache } from '@ballast/shared';
import type { BuildCacheSizes } from '../docker/api-types.js';
import type { Collector } from './registry.js';
import type { SlowContext } from './usage.js';

export const EMPTY_BUILD_CACHE: BuildCache = {
  measured: false,
  records: 0,
  totalBytes: 0,
  reclaimableBytes: 0,
  inUseBytes: 0,
  sharedBytes: 0,
  byType: {},
  measuredAt: null,
};

/**
 * Sums BuildKit records the way the docker CLI does: `Shared` records are snapshots that
 * are also image layers (counted under images), so the build-cache total is Σ Size of the
 * unshared ones, and reclaimable is that minus what is in use. `byType` splits the same
 * unshared bytes (so it adds up to the total) but counts every record.
 */
export function summarizeBuildCache(records: readonly BuildCacheSizes[], measuredAt: Date): BuildCache {
  const cache: BuildCache = { ...EMPTY_BUILD_CACHE, byType: {}, measured: true, measuredAt: measuredAt.toISOString() };
  for (const r of records) {
    cache.records += 1;
    const type = cache.byType[r.Type] ?? { records: 0, bytes: 0 };
    cache.byType[r.Type] = type;
    type.records += 1;
    if (r.Shared) {
      cache.sharedBytes += r.Size;
      continue;
    }
    cache.totalBytes += r.Size;
    type.bytes += r.Size;
    if (r.InUse) cache.inUseBytes += r.Size;
  }
  cache.reclaimableBytes = cache.totalBytes - cache.inUseBytes;
  return cache;
}

/** Only on the slow cadence: on engines before 23.0 `/system/df` walks every container and volume. */
export const buildCacheCollector: Collector<SlowContext> = {
  name: 'build-cache',
  async collect({ client, results, signal }) {
    const records = await client.buildCacheSizes(signal);
    results.buildCache = summarizeBuildCache(records, new Date());
  },
};
