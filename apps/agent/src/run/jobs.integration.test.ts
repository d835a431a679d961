import { rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import {
  type AgentMessage,
  JOB_KINDS,
  type JobPlan,
  jobCapability,
  PROTOCOL_VERSION,
  parseAgentMessage,
} from '@ballast/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { removeLabelled } from '../../test/docker-build.js';
import { type DockerTestEnv, docker, requireDockerTestEnv, tempDir } from '../../test/helpers.js';
import { buildBase, buildBlobImage, exists, jobService, remediation, TEST_LABEL } from '../../test/jobs-helpers.js';
import { silentLogger } from '../log.js';
import { AgentRunner } from './agent.js';
import { Spool } from './spool.js';

interface Conn {
  socket: WebSocket;
  messages: AgentMessage[];
}

/** A gateway speaking the protocol: welcomes, acks snapshots, records every agent frame. */
async function gateway() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const conns: Conn[] = [];
  wss.on('connection', (socket) => {
    const conn: Conn = { socket, messages: [] };
    conns.push(conn);
    socket.on('message', (data) => {
      const parsed = parseAgentMessage(data.toString());
      if (!parsed.ok) throw new Error(`agent sent an invalid frame: ${parsed.message}`);
      conn.messages.push(parsed.message);
      if (parsed.message.type === 'hello') {
        socket.send(
          JSON.stringify({ v: 1, type: 'welcome', hostId: 'h', serverVersion: 't', snapshotIntervalSeconds: 3600 }),
        );
      }
      if (parsed.message.type === 'snapshot' || parsed.message.type === 'delta')
        socket.send(JSON.stringify({ v: 1, type: 'ack', seq: parsed.message.seq }));
    });
  });
  const until = async (predicate: () => boolean, what: string, timeoutMs = 90_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    conns,
    until,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

const of = <T extends AgentMessage['type']>(c: Conn | undefined, type: T) =>
  (c?.messages ?? []).filter((m): m is Extract<AgentMessage, { type: T }> => m.type === type);

let env: DockerTestEnv;
const dirs: string[] = [];

beforeAll(async () => {
  env = requireDockerTestEnv();
  await removeLabelled(env, TEST_LABEL);
  await buildBase(env);
});
afterAll(async () => {
  await removeLabelled(env, TEST_LABEL);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('run loop: job frames', () => {
  it('plans, ignores duplicates in flight, executes once across a lost connection, and snapshots after', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) ids.push(await buildBlobImage(env, 'jobs/run', 2));
    await docker(env, ['rmi', 'jobs/run']);
    const dangling = ids.slice(0, 2);

    const state = await tempDir('run-jobs');
    dirs.push(state);
    const policy = remediation({ disabledKinds: ['volumes.remove'] });
    const { client, scanner, service } = await jobService(env, state, policy);
    const server = await gateway();
    const runner = new AgentRunner({
      serverUrl: server.url,
      token: 't',
      ca: null,
      intervalSeconds: 3600,
      slowIntervalSeconds: 3600,
      scanner,
      spool: await Spool.open(state, silentLogger),
      log: silentLogger,
      jobs: { service, remediation: policy },
      postJobSnapshotMs: 100,
      firstSnapshotWaitMs: 0,
      backoff: { minMs: 50, maxMs: 200 },
    });
    runner.start();
    try {
      await server.until(() => of(server.conns[0], 'snapshot').length > 0, 'the first snapshot');
      const first = server.conns[0] as Conn;
      const hello = of(first, 'hello')[0];
      expect(hello?.capabilities).toEqual([
        'inventory.v1',
        'inventory.delta.v1',
        'ingest.proceed.v1',
        'jobs',
        ...JOB_KINDS.filter((k) => k !== 'volumes.remove' && !k.startsWith('k3s.')).map(jobCapability),
      ]);
      const deadline = new Date(Date.now() + 600_000).toISOString();
      const planFrame = JSON.stringify({
        v: PROTOCOL_VERSION,
        type: 'job.plan',
        jobId: 'run-1',
        kind: 'images.pruneDangling',
        params: {},
        deadline,
      });
      // Sent twice at once: the second arrives while the first is being planned and is ignored.
      first.socket.send(planFrame);
      first.socket.send(planFrame);
      await server.until(() => of(first, 'job.planned').length === 1, 'job.planned');
      await new Promise((r) => setTimeout(r, 500));
      expect(of(first, 'job.planned')).toHaveLength(1);
      const plan = of(first, 'job.planned')[0]?.plan as JobPlan;
      expect(plan.items.map((i) => i.id)).toEqual(expect.arrayContaining(dangling));
      // Re-delivered later: answered from the ledger with the same plan.
      first.socket.send(planFrame);
      await server.until(() => of(first, 'job.planned').length === 2, 'the re-delivered plan');
      expect(of(first, 'job.planned')[1]?.plan).toEqual(plan);

      // Refusals: a disabled kind, and an execute for a job this agent never planned (reordered frames).
      first.socket.send(
        JSON.stringify({
          v: 1,
          type: 'job.plan',
          jobId: 'run-2',
          kind: 'volumes.remove',
          params: { volumes: ['x'], confirmDataLoss: true },
          deadline,
        }),
      );
      first.socket.send(
        JSON.stringify({ v: 1, type: 'job.execute', jobId: 'run-3', plan: { ...plan, jobId: 'run-3' }, deadline }),
      );
      await server.until(() => of(first, 'job.rejected').length === 2, 'two rejections');
      expect(of(first, 'job.rejected')).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ jobId: 'run-2', phase: 'plan', code: 'disabled' }),
          expect.objectContaining({ jobId: 'run-3', phase: 'execute', code: 'plan_mismatch' }),
        ]),
      );

      // Execute, and drop the connection as soon as the first progress frame arrives.
      const since = Math.floor(Date.now() / 1000) - 1;
      const executeFrame = JSON.stringify({ v: 1, type: 'job.execute', jobId: 'run-1', plan, deadline });
      first.socket.send(executeFrame);
      await server.until(() => of(first, 'job.progress').length > 0, 'progress');
      first.socket.terminate();
      await server.until(() => of(server.conns[1], 'hello').length > 0, 'reconnection');
      const second = server.conns[1] as Conn;
      // The server re-delivers; the agent answers with the one result, whether still running or done.
      second.socket.send(executeFrame);
      await server.until(() => of(second, 'job.result').length > 0, 'job.result after reconnecting');
      const result = of(second, 'job.result')[0]?.result;
      expect(result?.items.map((i) => i.id)).toEqual(plan.items.map((i) => i.id));
      for (const id of dangling) expect(await exists(env, 'image', id)).toBe(false);
      // Re-delivered once more: the stored result, identical.
      second.socket.send(executeFrame);
      await server.until(() => of(second, 'job.result').length > 1, 'the stored result');
      expect(of(second, 'job.result')[1]?.result).toEqual(result);
      const events = (
        await docker(env, [
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
        ])
      ).split('\n');
      for (const id of dangling) expect(events.filter((e) => e === id)).toHaveLength(1);
      // A fresh reading follows the execution, long before the hourly interval.
      await server.until(
        () =>
          second.messages.findIndex((m) => m.type === 'job.result') <
          second.messages.findLastIndex((m) => m.type === 'snapshot' || m.type === 'delta'),
        'a reading after the result',
        30_000,
      );
    } finally {
      await runner.stop();
      client.close();
      await server.close();
    }
  });
});
