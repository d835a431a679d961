import { rm, stat } from 'node:fs/promises';
import type { JobPlan, JobResult } from '@ballast/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeLabelled } from '../../test/docker-build.js';
import { curlJson, type DockerTestEnv, docker, requireDockerTestEnv, tempDir } from '../../test/helpers.js';
import {
  buildBase,
  buildBlobImage,
  duDataRoot,
  exists,
  jobService,
  remediation,
  TEST_LABEL,
} from '../../test/jobs-helpers.js';
import { planDigest } from './canonical.js';

let env: DockerTestEnv;
const dirs: string[] = [];
const clients: Array<{ close(): void }> = [];

async function service(policy = remediation()) {
  const state = await tempDir('jobs');
  dirs.push(state);
  const s = await jobService(env, state, policy);
  clients.push(s.client);
  return { ...s, state };
}

function planOf(outcome: { ok: boolean }): JobPlan {
  if (!('plan' in outcome)) throw new Error(`plan refused: ${JSON.stringify(outcome)}`);
  return outcome.plan as JobPlan;
}
function resultOf(outcome: { ok: boolean }): JobResult {
  if (!('result' in outcome)) throw new Error(`execute refused: ${JSON.stringify(outcome)}`);
  return outcome.result as JobResult;
}

/** Image IDs `docker images` lists as dangling, and the image IDs of every container (any state). */
async function danglingOracle() {
  const dangling = (await docker(env, ['images', '-q', '--no-trunc', '--filter', 'dangling=true'])).split('\n');
  const containers = await curlJson<Array<{ ImageID: string }>>(env, '/containers/json?all=1');
  const used = new Set(containers.map((c) => c.ImageID));
  return { dangling: new Set(dangling.filter(Boolean)), used };
}

/** `/system/df` (curl, not the agent's client): Size − SharedSize, the CLI's UNIQUE SIZE. */
async function uniqueSizes(): Promise<Map<string, number>> {
  const df = await curlJson<{ Images: Array<{ Id: string; Size: number; SharedSize: number }> }>(env, '/system/df');
  return new Map(df.Images.map((i) => [i.Id, i.Size - i.SharedSize]));
}

/** Makes `count` dangling images of `mib` MiB each by rebuilding one tag; returns their IDs. */
async function makeDangling(tag: string, count: number, mib: number, builder: 'classic' | 'buildkit' = 'classic') {
  const ids: string[] = [];
  for (let i = 0; i <= count; i += 1) ids.push(await buildBlobImage(env, tag, mib, builder));
  await docker(env, ['rmi', tag]).catch(() => '');
  // The last build untagged by rmi is deleted with its tag; the earlier ones are dangling.
  return ids.slice(0, count);
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
});

describe('images.pruneDangling', () => {
  it('plans exactly the unused dangling images with their unique bytes, and frees what du sees', async () => {
    const ids = await makeDangling('jobs/dangle', 3, 16);
    const { service: jobs } = await service();
    const plan = planOf(await jobs.plan('dangling-1', 'images.pruneDangling', {}));

    const oracle = await danglingOracle();
    const fixtureLabelled = new Set(
      (await docker(env, ['images', '-q', '--no-trunc', '--filter', 'label=fixture=fx'])).split('\n').filter(Boolean),
    );
    const expected = [...oracle.dangling].filter((id) => !oracle.used.has(id) && !fixtureLabelled.has(id));
    expect(plan.items.map((i) => i.id).sort()).toEqual(expected.sort());
    expect(expected).toEqual(expect.arrayContaining(ids));
    // Skipped: the dangling images in use (any state) and the protected fixture ones.
    for (const s of plan.skipped) expect(oracle.dangling.has(s.id)).toBe(true);
    expect(plan.skipped.length).toBe(oracle.dangling.size - expected.length);
    const unique = await uniqueSizes();
    for (const item of plan.items) expect(item.bytes).toBe(unique.get(item.id));
    expect(plan.totalBytes).toBe(plan.items.reduce((s, i) => s + i.bytes, 0));
    expect(plan.digest).toBe(planDigest(plan));

    const before = await duDataRoot(env);
    const result = resultOf(await jobs.execute(plan));
    const after = await duDataRoot(env);
    expect(result.status).toBe('succeeded');
    expect(result.bytesFreed).toBe(plan.totalBytes);
    expect(result.engineReportedBytes).toBeNull();
    // Plan bytes are apparent layer bytes; the du change adds each layer's directories and metadata.
    expect(Math.abs(before - after - result.bytesFreed) / result.bytesFreed).toBeLessThan(0.01);
    for (const id of ids) expect(await exists(env, 'image', id)).toBe(false);
    expect(result.freeBytesAfter).toBeGreaterThan(result.freeBytesBefore);
  });

  it('counts a BuildKit-built image as 0 bytes and says a build-cache prune is needed; du agrees', async () => {
    const [id] = await makeDangling('jobs/bk', 1, 4, 'buildkit');
    const { service: jobs } = await service();
    const plan = planOf(await jobs.plan('dangling-bk', 'images.pruneDangling', {}));
    const item = plan.items.find((i) => i.id === id);
    expect(item?.bytes).toBe(0);
    expect(item?.note).toMatch(/BuildKit/);
    expect(plan.notes.join(' ')).toMatch(/free nothing until a build-cache prune/);
    const before = await duDataRoot(env);
    const result = resultOf(await jobs.execute(plan));
    const after = await duDataRoot(env);
    expect(result.items.find((i) => i.id === id)?.outcome).toBe('done');
    // The 4 MiB layer stays on disk, held by the build cache: du moves by metadata only.
    expect(Math.abs(before - after)).toBeLessThan(256 * 1024);
  });
});

describe('images.pruneUnused', () => {
  it('keeps the newest tag of a repository and protected images, removes the rest no container uses', async () => {
    const older = await buildBlobImage(env, 'jobs/unused:a', 1);
    await new Promise((r) => setTimeout(r, 1100));
    const newer = await buildBlobImage(env, 'jobs/unused:b', 1);
    const { service: jobs } = await service();
    const plan = planOf(
      await jobs.plan('unused-1', 'images.pruneUnused', {
        minAgeDays: 0,
        keepNewestTagsPerRepository: 1,
        protectedImagePatterns: ['jobs/base:*'],
      }),
    );
    // Oracle: top-level images (`docker images`) that no container (any state) uses, minus the
    // fixture's (protected by label), jobs/base (protected by pattern) and the newest of each repository.
    const top = (await docker(env, ['images', '-q', '--no-trunc'])).split('\n').filter(Boolean);
    const containers = await curlJson<Array<{ ImageID: string }>>(env, '/containers/json?all=1');
    const used = new Set(containers.map((c) => c.ImageID));
    const fixture = new Set(
      (await docker(env, ['images', '-q', '--no-trunc', '--filter', 'label=fixture=fx'])).split('\n'),
    );
    const base = (await docker(env, ['image', 'inspect', '-f', '{{.Id}}', 'jobs/base:1'])).trim();
    const expected = [...new Set(top)].filter((id) => !used.has(id) && !fixture.has(id) && id !== base && id !== newer);
    expect(plan.items.map((i) => i.id).sort()).toEqual(expected.sort());
    expect(plan.items.map((i) => i.id)).toContain(older);
    expect(plan.skipped.find((s) => s.id === newer)?.reason).toMatch(/newest 1 images of jobs\/unused/);
    expect(plan.skipped.find((s) => s.id === base)?.reason).toMatch(/protected by image pattern/);
    const unique = await uniqueSizes();
    for (const item of plan.items.filter((i) => i.bytes > 0)) expect(item.bytes).toBe(unique.get(item.id));

    const result = resultOf(await jobs.execute(plan));
    expect(result.items.find((i) => i.id === older)?.outcome).toBe('done');
    expect(await exists(env, 'image', older)).toBe(false);
    expect(await exists(env, 'image', newer)).toBe(true);
    expect(await exists(env, 'image', base)).toBe(true);
  });
});

interface EngineEvent {
  Type: string;
  Action: string;
  id: string;
  timeNano: number | string;
}

/** Image deletes and container creates dockerd logged since `since` (seconds). */
async function engineEvents(since: number): Promise<EngineEvent[]> {
  const out = await docker(env, [
    'events',
    '--since',
    String(since),
    '--until',
    String(Math.floor(Date.now() / 1000) + 1),
    '--format',
    '{{json .}}',
  ]);
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as EngineEvent)
    .filter((e) => (e.Type === 'image' && e.Action === 'delete') || (e.Type === 'container' && e.Action === 'create'));
}

describe('safety at execute time', () => {
  it('skips an image a container was created on after the plan, and leaves the container alone', async () => {
    const ids = await makeDangling('jobs/race1', 2, 1);
    const { service: jobs } = await service();
    const plan = planOf(await jobs.plan('race-1', 'images.pruneDangling', {}));
    const target = ids[0] as string;
    const container = (
      await docker(env, ['create', '--network', 'none', '--label', TEST_LABEL, target, 'true'])
    ).trim();
    const result = resultOf(await jobs.execute(plan));
    const item = result.items.find((i) => i.id === target);
    expect(item?.outcome).toBe('skipped');
    expect(item?.reason).toMatch(/used by container/);
    expect(item?.bytes).toBe(0);
    expect(result.status).toBe('partial');
    expect(await exists(env, 'image', target)).toBe(true);
    expect(await exists(env, 'container', container)).toBe(true);
    expect(await exists(env, 'image', ids[1] as string)).toBe(false);
    await docker(env, ['rm', container]);
  });

  it('never deletes an image in use while containers appear on planned images during execution (seeded)', async () => {
    let seed = 20261123;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const ids = await makeDangling('jobs/race2', 8, 1);
    const { service: jobs } = await service();
    const plan = planOf(await jobs.plan('race-2', 'images.pruneDangling', {}));
    expect(plan.items.map((i) => i.id)).toEqual(expect.arrayContaining(ids));
    const created: Array<{ container: string; image: string }> = [];
    let finished = false;
    const racer = (async () => {
      const stopAt = Date.now() + 20_000;
      while (!finished && Date.now() < stopAt) {
        const image = ids[Math.floor(random() * ids.length)] as string;
        try {
          const container = (
            await docker(env, ['create', '--network', 'none', '--label', TEST_LABEL, image, 'true'])
          ).trim();
          created.push({ container, image });
        } catch {
          // The image was deleted first: creating on it fails, which is fine.
        }
        await new Promise((r) => setTimeout(r, Math.floor(random() * 150)));
      }
    })();
    const since = Math.floor(Date.now() / 1000) - 1;
    const result = resultOf(await jobs.execute(plan));
    finished = true;
    await racer;
    expect(created.length).toBeGreaterThan(0);
    // The engine's own record of when each image was deleted and each container registered.
    const events = await engineEvents(since);
    for (const { container, image } of created) {
      expect(await exists(env, 'container', container)).toBe(true);
      if (await exists(env, 'image', image)) {
        expect(result.items.find((i) => i.id === image)?.outcome).not.toBe('done');
        continue;
      }
      // dockerd resolves the image of a `create` before it registers the container, so a
      // create that started before the delete can still finish after it (the container keeps
      // the layers it needs). The image was unused when deleted only if the engine registered
      // the container after the delete: the event order proves it.
      const deleted = events.find((e) => e.Type === 'image' && e.Action === 'delete' && e.id === image);
      const registered = events.find((e) => e.Type === 'container' && e.Action === 'create' && e.id === container);
      expect(deleted, `delete event of ${image}`).toBeDefined();
      expect(registered, `create event of ${container}`).toBeDefined();
      expect(BigInt(registered?.timeNano ?? 0)).toBeGreaterThan(BigInt(deleted?.timeNano ?? 0));
    }
    // Everything reported done is really gone.
    for (const i of result.items.filter((x) => x.outcome === 'done')) {
      expect(await exists(env, 'image', i.id)).toBe(false);
    }
    // Each removed container frees ~128 KiB of its own metadata that no size figure counts:
    // leave none behind for the container test's du comparison.
    await docker(env, ['rm', ...created.map((c) => c.container)]);
  });

  it('skips images protected by a pattern or a label at plan time', async () => {
    const [id] = await makeDangling('jobs/prot', 1, 1);
    const { service: jobs } = await service(
      remediation({ protectedImagePatterns: [`${(id as string).slice(0, 20)}*`] }),
    );
    const plan = planOf(await jobs.plan('prot-1', 'images.pruneDangling', {}));
    expect(plan.items.find((i) => i.id === id)).toBeUndefined();
    expect(plan.skipped.find((s) => s.id === id)?.reason).toMatch(/protected by image pattern/);
    const fixtureDangling = plan.skipped.filter((s) => /fixture=fx/.test(s.reason));
    expect(fixtureDangling.length).toBeGreaterThan(0);
  });
});

describe('containers.pruneStopped and volumes.remove', () => {
  it('removes exactly the stopped labelled containers; bytes match SizeRw + log size and du', async () => {
    for (const n of [1, 2]) {
      await docker(env, [
        'run',
        '--name',
        `jobs-c${n}`,
        '--network',
        'none',
        '--label',
        TEST_LABEL,
        'jobs/base:1',
        'sh',
        '-c',
        // Large enough that the ~128 KiB of per-container metadata (init layer, config dir) stays under 1%.
        'dd if=/dev/urandom of=/data bs=1048576 count=24 2>/dev/null; echo done',
      ]);
    }
    const { service: jobs } = await service();
    const plan = planOf(await jobs.plan('ctr-1', 'containers.pruneStopped', { minAgeDays: 0, labels: [TEST_LABEL] }));
    const oracle = await curlJson<Array<{ Id: string; SizeRw?: number; State: string }>>(
      env,
      `/containers/json?all=1&size=1&filters=${encodeURIComponent(JSON.stringify({ label: [TEST_LABEL] }))}`,
    );
    const stopped = oracle.filter((c) => c.State === 'exited' || c.State === 'created');
    expect(plan.items.map((i) => i.id).sort()).toEqual(stopped.map((c) => c.Id).sort());
    for (const c of stopped) {
      const logPath = (await docker(env, ['inspect', '-f', '{{.LogPath}}', c.Id])).trim();
      // The test engine's data root is where this process sees it, so LogPath is readable as is.
      const logBytes = logPath ? (await stat(logPath)).size : 0;
      expect(plan.items.find((i) => i.id === c.Id)?.bytes).toBe((c.SizeRw ?? 0) + logBytes);
    }
    const before = await duDataRoot(env);
    const result = resultOf(await jobs.execute(plan));
    const after = await duDataRoot(env);
    expect(result.status).toBe('succeeded');
    for (const c of stopped) expect(await exists(env, 'container', c.Id)).toBe(false);
    expect(Math.abs(before - after - result.bytesFreed) / result.bytesFreed).toBeLessThan(0.01);
  });

  it('removes only the named volumes that no container references', async () => {
    await docker(env, ['volume', 'create', '--label', TEST_LABEL, 'jobs-v1']);
    await docker(env, ['volume', 'create', '--label', TEST_LABEL, 'jobs-v2']);
    await docker(env, ['volume', 'create', '--label', TEST_LABEL, 'jobs-v3']);
    await docker(env, [
      'run',
      '--rm',
      '--network',
      'none',
      '-v',
      'jobs-v1:/v',
      'jobs/base:1',
      'dd',
      'if=/dev/urandom',
      'of=/v/data',
      'bs=1048576',
      'count=10',
    ]);
    const holder = (
      await docker(env, [
        'create',
        '--network',
        'none',
        '--label',
        TEST_LABEL,
        '-v',
        'jobs-v2:/v',
        'jobs/base:1',
        'true',
      ])
    ).trim();
    const { service: jobs } = await service();
    expect(await jobs.plan('vol-0', 'volumes.remove', { volumes: ['jobs-v1'] })).toMatchObject({
      ok: false,
      code: 'invalid',
    });
    const plan = planOf(
      await jobs.plan('vol-1', 'volumes.remove', {
        volumes: ['jobs-v1', 'jobs-v2', 'jobs-nope'],
        confirmDataLoss: true,
      }),
    );
    const df = await curlJson<{ Volumes: Array<{ Name: string; UsageData: { Size: number } }> }>(env, '/system/df');
    expect(plan.items).toEqual([
      expect.objectContaining({ id: 'jobs-v1', bytes: df.Volumes.find((v) => v.Name === 'jobs-v1')?.UsageData.Size }),
    ]);
    expect(plan.skipped.map((s) => [s.id, s.reason])).toEqual([
      ['jobs-v2', expect.stringMatching(/referenced by 1 container/)],
      ['jobs-nope', 'no such volume'],
    ]);
    const before = await duDataRoot(env);
    const result = resultOf(await jobs.execute(plan));
    const after = await duDataRoot(env);
    expect(result.status).toBe('succeeded');
    expect(await exists(env, 'volume', 'jobs-v1')).toBe(false);
    expect(await exists(env, 'volume', 'jobs-v2')).toBe(true);
    expect(await exists(env, 'volume', 'jobs-v3')).toBe(true);
    expect(await exists(env, 'container', holder)).toBe(true);
    expect(Math.abs(before - after - result.bytesFreed) / result.bytesFreed).toBeLessThan(0.01);
  });
});
