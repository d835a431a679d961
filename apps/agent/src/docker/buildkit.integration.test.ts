import { describe, expect, it } from 'vitest';
import { curlJson, requireDockerTestEnv } from '../../test/helpers.js';
import { recordParents } from '../jobs/plan-build-cache.js';
import { buildKitDiskUsage, decodeDiskUsageResponse, decodeDiskUsageSizes } from './buildkit.js';
import { parseDockerHost } from './endpoint.js';

interface DfRecord {
  ID: string;
  Parent?: string;
  LastUsedAt?: string;
  Type: string;
  InUse: boolean;
  Shared: boolean;
  Size: number;
}

describe('buildKitDiskUsage against the test engine', () => {
  it('returns the records /system/df lists as BuildCache', async () => {
    const env = requireDockerTestEnv();
    const records = await buildKitDiskUsage(parseDockerHost(env.host), { timeoutMs: 30_000 }, decodeDiskUsageResponse);
    const df = await curlJson<{ BuildCache: DfRecord[] | null }>(env, '/v1.41/system/df');
    const pick = (r: DfRecord) => ({
      ID: r.ID,
      Type: r.Type,
      InUse: r.InUse,
      Shared: r.Shared,
      Size: r.Size,
      parents: r.Parent ? [r.Parent] : [],
      // The RPC's timestamp is read to the millisecond.
      lastUsed: r.LastUsedAt ? new Date(r.LastUsedAt).toISOString() : null,
    });
    const mine = records.map((r) => ({
      ID: r.ID,
      Type: r.Type,
      InUse: r.InUse,
      Shared: r.Shared,
      Size: r.Size,
      parents: recordParents(r),
      lastUsed: r.LastUsedAt ?? null,
    }));
    const byId = (a: { ID: string }, b: { ID: string }) => a.ID.localeCompare(b.ID);
    expect(records.length).toBeGreaterThan(0);
    expect(mine.sort(byId)).toEqual((df.BuildCache ?? []).map(pick).sort(byId));

    // Decoded for the figures only, the same records give the same sizes and flags.
    const sizes = await buildKitDiskUsage(parseDockerHost(env.host), { timeoutMs: 30_000 }, decodeDiskUsageSizes);
    const key = (r: { Type: string; InUse: boolean; Shared: boolean; Size: number }) =>
      `${r.Type} ${r.InUse} ${r.Shared} ${r.Size}`;
    expect(sizes.map(key).sort()).toEqual(records.map(key).sort());
  });
});
