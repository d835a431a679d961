import { describe, expect, it } from 'vitest';
import { summarizeBuildCache } from './build-cache.js';

const rec = (ID: string, Type: string, Size: number, Shared: boolean, InUse = false) => ({
  ID,
  Parents: [],
  Type,
  Size,
  Shared,
  InUse,
});

describe('summarizeBuildCache', () => {
  it('totals unshared records like `docker system df`, reclaimable excludes in-use ones', () => {
    const at = new Date('2026-01-02T03:04:05Z');
    const cache = summarizeBuildCache(
      [
        rec('a', 'regular', 1_000, false),
        rec('b', 'regular', 5_000, true),
        rec('c', 'source.local', 300, false, true),
        rec('d', 'exec.cachemount', 70, false),
      ],
      at,
    );
    expect(cache).toEqual({
      measured: true,
      records: 4,
      totalBytes: 1_370,
      reclaimableBytes: 1_070,
      inUseBytes: 300,
      sharedBytes: 5_000,
      byType: {
        regular: { records: 2, bytes: 1_000 },
        'source.local': { records: 1, bytes: 300 },
        'exec.cachemount': { records: 1, bytes: 70 },
      },
      measuredAt: '2026-01-02T03:04:05.000Z',
    });
  });
});
