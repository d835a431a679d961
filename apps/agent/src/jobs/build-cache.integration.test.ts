import { rm } from 'node:fs/promises';
import type { JobPlan, JobResult } from '@ballast/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeLabelled } from '../../test/docker-build.js';
import { curlJson, type DockerTestEnv, docker, requireDockerTestEnv, tempDir } from '../../test/helpers.js';
import {
  buildBase,
  buildBlobImage,
  duDataRoot,
  jobService,
  remediation,
  restoreFixture,
  TEST_LABEL,
} from '../../test/jobs-helpers.js';

let env: DockerTestEnv;
const dirs: string[] = [];
const clients: Array<{ close(): void }> = [];

interface DfRecord {
  ID: string;
  InUse: boolean;
  Shared: boolean;
  Size: number;
}

beforeAll(async () => {
  env = requireDockerTestEnv();
  await removeLabelled(env, TEST_LABEL);
  await buildBase(env);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await removeLabelled(env, TEST_LABEL);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  // This file prunes the whole build cache, the fixture's included: rebuild it for the other files.
  await restoreFixture(env);
}, 300_000);

describe('buildCache.prune', () => {
  it('plans every unused record, frees what du sees, and shows where SpaceReclaimed overcounts', async () => {
    // A BuildKit image removed again: its 16 MiB layer stays on disk, held only by the build cache.
    await buildBlobImage(env, 'jobs/bkc:1', 16, 'buildkit');
    await docker(env, ['rmi', 'jobs/bkc:1']);
    const state = await tempDir('bc');
    dirs.push(state);
    const { client, service: jobs } = await jobService(env, state, remediation());
    clients.push(client);
    const outcome = await jobs.plan('bc-1', 'buildCache.prune', {});
    if (!outcome.ok) throw new Error(outcome.message);
    const plan: JobPlan = outcome.plan;

    const df = await curlJson<{ BuildCache: DfRecord[] }>(env, '/system/df');
    const unused = df.BuildCache.filter((r) => !r.InUse);
    expect(plan.items.map((i) => i.id).sort()).toEqual(unused.map((r) => r.ID).sort());
    for (const r of unused) expect(plan.items.find((i) => i.id === r.ID)?.bytes).toBe(r.Shared ? 0 : r.Size);
    // The plan's total is the docker CLI's reclaimable "Build Cache" figure: Σ Size of unshared records.
    expect(plan.totalBytes).toBe(unused.filter((r) => !r.Shared).reduce((s, r) => s + r.Size, 0));

    const before = await duDataRoot(env);
    const result = (await jobs.execute(plan)) as { ok: true; result: JobResult };
    const after = await duDataRoot(env);
    const freed = before - after;
    const sharedBytes = unused.filter((r) => r.Shared).reduce((s, r) => s + r.Size, 0);
    expect(result.result.status).toBe('succeeded');
    expect(result.result.bytesFreed).toBe(plan.totalBytes);
    // Docker's SpaceReclaimed is Σ Size of every pruned record, shared ones included; those are
    // layers of images that still exist, so nothing of them left the disk (du agrees below).
    expect(result.result.engineReportedBytes).toBe(plan.totalBytes + sharedBytes);
    expect(sharedBytes).toBeGreaterThan(0);
    // du drops by the unshared records' bytes plus each record's own directories and metadata
    // (apparent record sizes do not include them): never less than reported, at most 64 KiB per record.
    expect(freed).toBeGreaterThanOrEqual(result.result.bytesFreed);
    expect(freed - result.result.bytesFreed).toBeLessThan(unused.length * 64 * 1024);
    expect(freed).toBeLessThan(result.result.engineReportedBytes ?? 0);
    const left = await curlJson<{ BuildCache: DfRecord[] | null }>(env, '/system/df');
    expect(left.BuildCache ?? []).toEqual([]);
  });
});
