import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { JobPlan, JobResult } from '@ballast/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeLabelled } from '../../test/docker-build.js';
import { type DockerTestEnv, docker, requireDockerTestEnv, runCli, tempDir } from '../../test/helpers.js';
import { buildBase, buildBlobImage, exists, jobService, remediation, TEST_LABEL } from '../../test/jobs-helpers.js';
import { planDigest } from './canonical.js';
import { JobLedger } from './ledger.js';

let env: DockerTestEnv;
const dirs: string[] = [];
const clients: Array<{ close(): void }> = [];

async function service(policy = remediation(), state?: string) {
  const dir = state ?? (await tempDir('ledger'));
  dirs.push(dir);
  const s = await jobService(env, dir, policy);
  clients.push(s.client);
  return { ...s, state: dir };
}

function planOf(outcome: { ok: boolean }): JobPlan {
  if (!('plan' in outcome)) throw new Error(`plan refused: ${JSON.stringify(outcome)}`);
  return outcome.plan as JobPlan;
}
function resultOf(outcome: { ok: boolean }): JobResult {
  if (!('result' in outcome)) throw new Error(`execute refused: ${JSON.stringify(outcome)}`);
  return outcome.result as JobResult;
}

async function makeDangling(tag: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i <= count; i += 1) ids.push(await buildBlobImage(env, tag, 1));
  await docker(env, ['rmi', tag]).catch(() => '');
  return ids.slice(0, count);
}

/** The image IDs dockerd logged a delete event for, since `since` (the engine's own record of actions). */
async function deleteEvents(since: number): Promise<string[]> {
  const out = await docker(env, [
    'events',
    '--since',
    String(since),
    '--until',
    String(Math.floor(Date.now() / 1000) + 1),
    '--filter',
    'type=image',
    '--filter',
    'event=delete',
    '--format',
    '{{.ID}}',
  ]);
  return out.split('\n').filter(Boolean);
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

describe('ledger: exactly-once effect', () => {
  it('answers a re-delivered plan with the stored plan and a re-delivered execute with the stored result', async () => {
    const ids = await makeDangling('jobs/l1', 2);
    const { service: jobs } = await service();
    const plan = planOf(await jobs.plan('l-1', 'images.pruneDangling', {}));
    const again = await jobs.plan('l-1', 'images.pruneDangling', {});
    expect(again).toMatchObject({ ok: true, stored: true, plan });
    const since = Math.floor(Date.now() / 1000) - 1;
    const first = await jobs.execute(plan);
    const second = await jobs.execute(plan);
    expect(first).toMatchObject({ ok: true, stored: false });
    expect(second).toMatchObject({ ok: true, stored: true });
    expect(resultOf(second)).toEqual(resultOf(first));
    const events = await deleteEvents(since);
    for (const id of ids) expect(events.filter((e) => e === id)).toHaveLength(1);
  });

  it('resumes after a crash mid-execution without acting twice on the objects already done', async () => {
    const ids = await makeDangling('jobs/l2', 3);
    const { service: jobs, state } = await service();
    const plan = planOf(await jobs.plan('l-2', 'images.pruneDangling', {}));
    const mine = plan.items.filter((i) => ids.includes(i.id));
    expect(mine).toHaveLength(3);
    const since = Math.floor(Date.now() / 1000) - 1;
    await expect(
      jobs.execute(plan, undefined, {
        afterItem: (index) => {
          if (index === 0) throw new Error('simulated crash');
        },
      }),
    ).rejects.toThrow('simulated crash');
    const stored = await new JobLedger(state).get('l-2');
    expect(stored?.execution?.items).toHaveLength(1);
    expect(stored?.result).toBeNull();
    const firstId = plan.items[0]?.id as string;
    expect(await exists(env, 'image', firstId)).toBe(false);

    // A fresh process (new client, scanner and service) on the same state dir.
    const { service: restarted } = await service(remediation(), state);
    const result = resultOf(await restarted.execute(plan));
    expect(result.items.map((i) => i.id)).toEqual(plan.items.map((i) => i.id));
    expect(result.items.every((i) => i.outcome === 'done')).toBe(true);
    const events = await deleteEvents(since);
    for (const item of plan.items) expect(events.filter((e) => e === item.id)).toHaveLength(1);
  });

  it('after a crash between acting and recording, reports the removed object as done without acting again', async () => {
    const ids = await makeDangling('jobs/l6', 2);
    const { service: jobs, state } = await service();
    const plan = planOf(await jobs.plan('l-6', 'images.pruneDangling', {}));
    const since = Math.floor(Date.now() / 1000) - 1;
    await expect(
      jobs.execute(plan, undefined, {
        afterAction: () => {
          throw new Error('simulated crash after the removal');
        },
      }),
    ).rejects.toThrow('simulated crash');
    const stored = await new JobLedger(state).get('l-6');
    expect(stored?.execution?.items).toHaveLength(0);
    expect(stored?.execution?.acting).toBe(plan.items[0]?.id);
    const { service: restarted } = await service(remediation(), state);
    const result = resultOf(await restarted.execute(plan));
    expect(result.items.map((i) => i.outcome)).toEqual(plan.items.map(() => 'done'));
    expect(result.bytesFreed).toBe(plan.totalBytes);
    const events = await deleteEvents(since);
    for (const id of ids) expect(events.filter((e) => e === id)).toHaveLength(1);
  });

  it('refuses a tampered plan, a plan it never made, a disabled kind and a second job while one runs', async () => {
    const [id] = await makeDangling('jobs/l3', 1);
    const { service: jobs, state } = await service();
    const plan = planOf(await jobs.plan('l-3', 'images.pruneDangling', {}));
    const tampered = { ...plan, items: plan.items.filter((i) => i.id !== id) };
    expect(await jobs.execute(tampered)).toMatchObject({ ok: false, code: 'plan_mismatch' });
    const resealed = { ...plan, totalBytes: plan.totalBytes + 1, digest: 'a'.repeat(64) };
    expect(await jobs.execute(resealed)).toMatchObject({ ok: false, code: 'plan_mismatch' });
    expect(await jobs.execute({ ...plan, jobId: 'never-planned' })).toMatchObject({
      ok: false,
      code: 'plan_mismatch',
    });
    // A plan sealed for another engine (the stored plan itself rewritten, digest and all).
    const ledger = new JobLedger(state);
    const stored = await ledger.get('l-3');
    if (!stored) throw new Error('no ledger entry');
    const { digest: _d, ...body } = { ...stored.plan, engineId: 'OTHER:ENGINE' };
    const foreign = { ...body, jobId: 'l-3-foreign', digest: planDigest({ ...body, jobId: 'l-3-foreign' }) };
    await ledger.put({ ...stored, jobId: 'l-3-foreign', plan: foreign });
    const refused = await jobs.execute(foreign);
    expect(refused).toMatchObject({ ok: false, code: 'plan_mismatch' });
    expect(refused.ok ? '' : refused.message).toMatch(/made on engine OTHER:ENGINE/);
    expect(await jobs.execute(plan, new Date(Date.now() - 1000).toISOString())).toMatchObject({
      ok: false,
      code: 'expired',
    });
    expect(await exists(env, 'image', id as string)).toBe(true);

    const { service: disabled } = await service(remediation({ disabledKinds: ['images.pruneDangling'] }), state);
    expect(await disabled.plan('l-4', 'images.pruneDangling', {})).toMatchObject({ ok: false, code: 'disabled' });
    expect(await disabled.execute(plan)).toMatchObject({ ok: false, code: 'disabled' });
    const { service: off } = await service(remediation({ enabled: false }), state);
    expect(await off.plan('l-5', 'buildCache.prune', {})).toMatchObject({ ok: false, code: 'disabled' });

    const release = await new JobLedger(state).lock('someone-else');
    try {
      expect(await jobs.execute(plan)).toMatchObject({ ok: false, code: 'busy' });
    } finally {
      await release();
    }
    expect(await exists(env, 'image', id as string)).toBe(true);
    expect(resultOf(await jobs.execute(plan)).items.find((i) => i.id === id)?.outcome).toBe('done');
  });

  it('prunes finished entries past retention but never one in progress', async () => {
    const state = await tempDir('ledger-prune');
    dirs.push(state);
    const ledger = new JobLedger(state);
    const { service: jobs } = await service(remediation(), state);
    const plan = planOf(await jobs.plan('old-done', 'buildCache.configureGC', {}));
    const finished = { version: 1 as const, jobId: 'old-done', updatedAt: '', plan, execution: null, result: null };
    await ledger.put(finished);
    await ledger.put({
      ...finished,
      jobId: 'old-running',
      plan: { ...plan, jobId: 'old-running' },
      execution: {
        startedAt: plan.plannedAt,
        freeBytesBefore: 0,
        engineReportedBytes: null,
        items: [],
        acting: null,
      },
    });
    const later = new Date(Date.now() + 31 * 86_400_000);
    expect(await ledger.prune(later)).toBe(1);
    expect(await ledger.get('old-done')).toBeNull();
    expect(await ledger.get('old-running')).not.toBeNull();
    expect((await readdir(ledger.dir)).sort()).toEqual(['old-running.json']);
  });
});

describe('ballast-agent plan / execute (CLI process)', () => {
  it('plans with --param, executes once, and answers a second execute from the ledger', async () => {
    const ids = await makeDangling('jobs/cli', 1);
    const state = await tempDir('cli');
    dirs.push(state);
    const config = path.join(state, 'agent.json');
    await writeFile(config, JSON.stringify({ remediation: { protectedLabels: ['fixture=fx'] } }));
    const common = ['--config', config, '--state-dir', path.join(state, 's'), '--docker-host', env.host];
    const planned = await runCli(['plan', 'images.pruneDangling', '--json', ...common]).done;
    expect(planned.stderr).toBe('');
    expect(planned.code).toBe(0);
    const plan = JSON.parse(planned.stdout) as JobPlan;
    expect(plan.items.map((i) => i.id)).toEqual(expect.arrayContaining(ids));
    const planFile = path.join(state, 'plan.json');
    await writeFile(planFile, planned.stdout);

    const since = Math.floor(Date.now() / 1000) - 1;
    const first = await runCli(['execute', '--plan', planFile, '--json', ...common]).done;
    expect(first.code).toBe(0);
    const second = await runCli(['execute', '--plan', planFile, '--json', ...common]).done;
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual(JSON.parse(first.stdout));
    const events = await deleteEvents(since);
    for (const id of ids) expect(events.filter((e) => e === id)).toHaveLength(1);

    const human = await runCli(['execute', '--plan', planFile, ...common]).done;
    expect(human.stdout).toMatch(/^Job local-.*: succeeded, freed/);

    const bad = await runCli(['plan', 'volumes.remove', '--param', 'volumes=x', '--param', 'volumes=y', ...common])
      .done;
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/refused \(invalid\): volumes.remove: confirmDataLoss/);
    const unknown = await runCli(['plan', 'images.nuke', ...common]).done;
    expect(unknown.stderr).toMatch(/unknown job kind "images.nuke"/);
  });
});

describe('logs.truncate', () => {
  it('truncates a plain json-file log to 0 bytes and leaves the container as it was', async () => {
    const id = (
      await docker(env, [
        'run',
        '-d',
        '--name',
        'jobs-log',
        '--network',
        'none',
        '--label',
        TEST_LABEL,
        'jobs/base:1',
        'sh',
        '-c',
        'i=0; while [ $i -lt 20000 ]; do echo "line $i of a chatty service"; i=$((i+1)); done',
      ])
    ).trim();
    await docker(env, ['wait', id]);
    const logPath = (await docker(env, ['inspect', '-f', '{{.LogPath}}', id])).trim();
    const size = (await stat(logPath)).size;
    expect(size).toBeGreaterThan(100_000);
    const inspectBefore = JSON.parse(await docker(env, ['inspect', id])) as Array<{ State: unknown }>;
    const { service: jobs } = await service();
    const plan = planOf(await jobs.plan('log-1', 'logs.truncate', { containerId: id }));
    expect(plan.items).toEqual([expect.objectContaining({ type: 'log', id: logPath, bytes: size })]);
    const result = resultOf(await jobs.execute(plan));
    expect(result.status).toBe('succeeded');
    expect(result.bytesFreed).toBe(size);
    expect((await stat(logPath)).size).toBe(0);
    const inspectAfter = JSON.parse(await docker(env, ['inspect', id])) as Array<{ State: unknown }>;
    expect(inspectAfter[0]?.State).toEqual(inspectBefore[0]?.State);
  });

  it('refuses rotated logs, rotating logs and the local driver (fixture containers)', async () => {
    const { service: jobs } = await service(remediation({ protectedLabels: [] }));
    const expectations: Array<[string, RegExp]> = [
      ['fx-rotlog', /rotat/],
      ['fx-rotgz', /rotat/],
      ['fx-local', /log driver local/],
    ];
    for (const [name, reason] of expectations) {
      const id = (await docker(env, ['inspect', '-f', '{{.Id}}', name])).trim();
      const logPath = (await docker(env, ['inspect', '-f', '{{.LogPath}}', id])).trim();
      const before = logPath ? (await stat(logPath)).size : null;
      const plan = planOf(await jobs.plan(`log-${name}`, 'logs.truncate', { containerId: id }));
      expect(plan.items).toEqual([]);
      expect(plan.skipped[0]?.reason).toMatch(reason);
      const result = resultOf(await jobs.execute(plan));
      expect(result.items).toEqual([]);
      if (logPath) expect((await stat(logPath)).size).toBe(before);
    }
  });
});

describe('daemon.json kinds', () => {
  it('configureRotation: backup, valid JSON with the keys, other keys kept, unbounded containers listed', async () => {
    const dir = await tempDir('daemon');
    dirs.push(dir);
    const file = path.join(dir, 'daemon.json');
    const original = '{ "debug": true, "log-opts": { "labels": "team" }, "data-root": "/srv/docker" }\n';
    await writeFile(file, original);
    const { service: jobs } = await service(remediation({ daemonConfigFile: file }));
    const plan = planOf(await jobs.plan('rot-1', 'logs.configureRotation', { maxSize: '20m', maxFile: 4 }));
    expect(plan.configChange).toMatchObject({ path: file, before: original, restartRequired: true });
    expect(plan.notes.join(' ')).toMatch(/never restarts/);
    const unbounded = plan.skipped.map((s) => s.name);
    expect(unbounded).toEqual(expect.arrayContaining(['fx-biglog']));
    expect(unbounded).not.toContain('fx-rotlog');
    expect(await readFile(file, 'utf8')).toBe(original);

    const result = resultOf(await jobs.execute(plan));
    expect(result.status).toBe('succeeded');
    const backup = plan.configChange?.backupPath as string;
    expect(await readFile(backup, 'utf8')).toBe(original);
    const written = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    expect(written).toEqual({
      debug: true,
      'data-root': '/srv/docker',
      'log-opts': { labels: 'team', 'max-size': '20m', 'max-file': '4' },
    });
  });

  it('configureGC on a missing file writes builder.gc; a malformed file is refused and left alone', async () => {
    const dir = await tempDir('daemon-gc');
    dirs.push(dir);
    await mkdir(path.join(dir, 'etc'));
    const file = path.join(dir, 'etc', 'daemon.json');
    const { service: jobs } = await service(remediation({ daemonConfigFile: file }));
    const plan = planOf(await jobs.plan('gc-1', 'buildCache.configureGC', { keepStorage: '5g' }));
    expect(plan.configChange?.before).toBeNull();
    resultOf(await jobs.execute(plan));
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({
      builder: { gc: { enabled: true, defaultKeepStorage: '5g' } },
    });

    const broken = '{ "debug": true, ';
    await writeFile(file, broken);
    const refused = await jobs.plan('gc-2', 'buildCache.configureGC', {});
    expect(refused).toMatchObject({ ok: false, code: 'invalid' });
    expect(refused.ok ? '' : refused.message).toMatch(/not valid JSON.*nothing was changed/);
    expect(await readFile(file, 'utf8')).toBe(broken);
    expect((await readdir(path.join(dir, 'etc'))).sort()).toEqual(['daemon.json']);

    // A file changed between plan and execute is not overwritten.
    await writeFile(file, '{}\n');
    const plan3 = planOf(await jobs.plan('gc-3', 'buildCache.configureGC', {}));
    await writeFile(file, '{"debug":false}\n');
    const result3 = resultOf(await jobs.execute(plan3));
    expect(result3.status).toBe('failed');
    expect(result3.items[0]?.reason).toMatch(/changed since the plan/);
    expect(await readFile(file, 'utf8')).toBe('{"debug":false}\n');
  });
});
