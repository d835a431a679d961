import { readFileSync, statSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import {
  AGENT_WS_PATH,
  type AgentMessage,
  applyInventoryDelta,
  CloseCode,
  type Inventory,
  inventoryByKey,
  JOB_KINDS,
  jobCapability,
  parseAgentMessage,
} from '@ballast/shared';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { buildImage, removeLabelled } from '../../test/docker-build.js';
import { type DockerTestEnv, docker, requireDockerTestEnv, runCli, tempDir } from '../../test/helpers.js';
import { DockerClient } from '../docker/client.js';
import { parseDockerHost } from '../docker/endpoint.js';
import { DEFAULT_HOST_PATHS } from '../host.js';
import { createLogger, silentLogger } from '../log.js';
import { Scanner } from '../scanner.js';
import { StateStore } from '../state/store.js';
import { AgentRunner } from './agent.js';
import { SPOOL_DIR, Spool, type SpoolLimits } from './spool.js';

const TOKEN = 'test-agent-token-0123456789';

type InventoryFrame = Extract<AgentMessage, { type: 'snapshot' | 'delta' }>;

/**
 * What the scripted server does with a snapshot or delta: `store` applies it as a real server
 * does (ack, or resync when it does not apply); `busy` / `ingest_failed` refuse it, storing
 * nothing; `silent` neither stores nor answers; `store-and-drop` stores it and drops the
 * connection before the ack leaves.
 */
type Answer = 'store' | 'busy' | 'ingest_failed' | 'silent' | 'store-and-drop';

interface Received {
  connection: number;
  raw: string;
  frame: InventoryFrame;
  at: number;
  outcome: 'applied' | 'deduped' | 'resync' | 'busy' | 'ingest_failed' | 'silent';
}

interface HostState {
  stream: string;
  seq: number;
  inventory: Inventory;
}

/**
 * How a server stores a frame: a seq it already has on this stream is acked without being
 * applied again; a snapshot replaces the host's state; a delta applies only on exactly its base.
 */
function storeFrame(
  host: HostState | null,
  frame: InventoryFrame,
): { outcome: 'applied'; host: HostState } | { outcome: 'deduped' } | { outcome: 'resync'; reason: string } {
  if (host && host.stream === frame.stream && frame.seq <= host.seq) return { outcome: 'deduped' };
  if (frame.type === 'snapshot') {
    return { outcome: 'applied', host: { stream: frame.stream, seq: frame.seq, inventory: frame.inventory } };
  }
  if (!host || host.stream !== frame.stream) return { outcome: 'resync', reason: 'unknown stream' };
  if (frame.baseSeq !== host.seq) return { outcome: 'resync', reason: `gap: holding ${host.seq}` };
  const applied = applyInventoryDelta(host.inventory, frame.delta);
  if (!applied.ok) return { outcome: 'resync', reason: applied.reason };
  return { outcome: 'applied', host: { stream: frame.stream, seq: frame.seq, inventory: applied.inventory } };
}

interface Connection {
  socket: WebSocket;
  authorization: string | undefined;
  path: string | undefined;
  messages: AgentMessage[];
  closed: Promise<{ code: number; reason: string }>;
}

/** A minimal Ballast gateway: validates every frame, welcomes, and keeps the host's state from snapshots and deltas. */
async function fakeServer(
  options: {
    onConnection?: (c: Connection) => void;
    welcome?: boolean;
    rejectHttp?: number;
    /**
     * Answers the first this-many frames `busy` with this back-off instead of storing them; with
     * `queued`, sends `proceed` on the same connection after `proceedAfterMs`, or drops the
     * connection after `dropAfterMs`.
     */
    busy?: {
      times: number;
      retryAfterSeconds: number;
      queued?: boolean;
      proceedAfterMs?: number;
      dropAfterMs?: number;
    };
    /** Decides the answer to each frame (default `store`). */
    answer?: (frame: InventoryFrame, raw: string) => Answer;
  } = {},
) {
  let busyLeft = options.busy?.times ?? 0;
  const server = {
    host: null as HostState | null,
    /** Every snapshot and delta received, over all connections, with what was done with it. */
    received: [] as Received[],
  };
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    verifyClient: (_info, cb) => (options.rejectHttp ? cb(false, options.rejectHttp) : cb(true)),
  });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const connections: Connection[] = [];
  const waiters: Array<() => void> = [];
  const notify = () => {
    for (const w of waiters.splice(0)) w();
  };
  const reply = (socket: WebSocket, message: Record<string, unknown>) =>
    socket.send(JSON.stringify({ v: 1, ...message }));
  wss.on('connection', (socket, req) => {
    const conn: Connection = {
      socket,
      authorization: req.headers.authorization,
      path: req.url,
      messages: [],
      closed: new Promise((resolve) =>
        socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
      ),
    };
    connections.push(conn);
    const index = connections.length - 1;
    socket.on('message', (data) => {
      const raw = data.toString();
      const parsed = parseAgentMessage(raw);
      if (!parsed.ok) {
        socket.close(CloseCode.badFrame, parsed.message);
        return;
      }
      const message = parsed.message;
      conn.messages.push(message);
      if (message.type === 'hello' && options.welcome !== false) {
        reply(socket, { type: 'welcome', hostId: 'host_test', serverVersion: 'test', snapshotIntervalSeconds: 1 });
      }
      if (message.type === 'snapshot' || message.type === 'delta') {
        const record: Received = { connection: index, raw, frame: message, at: Date.now(), outcome: 'silent' };
        server.received.push(record);
        let answer = options.answer?.(message, raw) ?? 'store';
        if (busyLeft > 0 && options.busy) {
          busyLeft -= 1;
          answer = 'busy';
        }
        if (answer === 'busy') {
          record.outcome = 'busy';
          reply(socket, {
            type: 'error',
            code: 'busy',
            message: 'server busy',
            seq: message.seq,
            retryAfterSeconds: options.busy?.retryAfterSeconds ?? 1,
            ...(options.busy?.queued && { queued: true }),
          });
          const { proceedAfterMs, dropAfterMs } = options.busy ?? {};
          if (proceedAfterMs !== undefined) {
            setTimeout(() => reply(socket, { type: 'proceed', withinSeconds: 30 }), proceedAfterMs);
          }
          if (dropAfterMs !== undefined) setTimeout(() => socket.terminate(), dropAfterMs);
        } else if (answer === 'ingest_failed') {
          record.outcome = 'ingest_failed';
          reply(socket, { type: 'error', code: 'ingest_failed', message: 'not stored', seq: message.seq });
        } else if (answer === 'store' || answer === 'store-and-drop') {
          const stored = storeFrame(server.host, message);
          record.outcome = stored.outcome;
          if (stored.outcome === 'applied') server.host = stored.host;
          if (answer === 'store-and-drop') socket.terminate();
          else if (stored.outcome === 'resync')
            reply(socket, { type: 'resync', seq: message.seq, reason: stored.reason });
          else reply(socket, { type: 'ack', seq: message.seq });
        }
      }
      notify();
    });
    options.onConnection?.(conn);
    notify();
  });
  const until = async (predicate: () => boolean, what: string, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  };
  const port = (wss.address() as AddressInfo).port;
  return Object.assign(server, {
    url: `http://127.0.0.1:${port}`,
    connections,
    until,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  });
}

const types = (c: Connection | undefined) => (c?.messages ?? []).map((m) => m.type);
const frames = (c: Connection | undefined) =>
  (c?.messages ?? []).filter((m): m is InventoryFrame => m.type === 'snapshot' || m.type === 'delta');

let env: DockerTestEnv;
const dirs: string[] = [];
/** A scanner of the test engine keeping its state in `state`. */
async function testScanner(state: string) {
  const client = new DockerClient(parseDockerHost(env.host));
  const scanner = new Scanner({
    client,
    store: await StateStore.open(state, silentLogger),
    log: silentLogger,
    hostPaths: DEFAULT_HOST_PATHS,
    hostLabels: {},
    dataRootOverride: null,
    mountInfoPath: '/proc/self/mountinfo',
  });
  return { client, scanner };
}
async function newStateDir(): Promise<string> {
  const state = await tempDir('runner');
  dirs.push(state);
  return state;
}
const RUNNER_LABEL = 'ballast.test=runner';
beforeAll(async () => {
  env = requireDockerTestEnv();
  // Images of its own, whatever ran before: on a nearly empty engine a new container changes
  // most of a tiny inventory and the agent rightly sends a full snapshot instead of a delta.
  for (let i = 0; i < 8; i++) {
    await buildImage(env, {
      tag: `ballast-runner-test:${i}`,
      dockerfile: `FROM scratch\nCOPY busybox /bin/busybox\nLABEL n=${i}\n`,
      files: { busybox: { busybox: true } },
      labels: { 'ballast.test': 'runner' },
    });
  }
}, 120_000);
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  await removeLabelled(env, RUNNER_LABEL);
});

describe('ballast-agent run (CLI process)', () => {
  it('says hello, snapshots, reconnects after a drop, and exits 0 on SIGTERM with close code 1000', async () => {
    const server = await fakeServer();
    const state = await tempDir('run-cli');
    dirs.push(state);
    const agent = runCli(['run', '--server', server.url, '--interval', '1', '--state-dir', path.join(state, 's')], {
      env: { DOCKER_HOST: env.host, BALLAST_TOKEN: TOKEN, BALLAST_LOG_LEVEL: 'debug' },
    });
    try {
      await server.until(() => types(server.connections[0]).includes('snapshot'), 'the first snapshot');
      const first = server.connections[0];
      expect(first?.authorization).toBe(`Bearer ${TOKEN}`);
      expect(first?.path).toBe(AGENT_WS_PATH);
      expect(types(first).slice(0, 2)).toEqual(['hello', 'snapshot']);
      const hello = first?.messages[0];
      // No config file: remediation is on with every kind allowed; a Docker host without k3s
      // runs every kind but k3s's.
      expect(hello).toMatchObject({
        type: 'hello',
        capabilities: [
          'inventory.v1',
          'inventory.delta.v1',
          'ingest.proceed.v1',
          'jobs',
          ...JOB_KINDS.filter((k) => !k.startsWith('k3s.')).map(jobCapability),
        ],
      });
      const firstSnapshot = first?.messages[1];
      expect(firstSnapshot?.type === 'snapshot' && firstSnapshot.inventory.totals.unattributedBytes).not.toBeNull();

      // A reading every interval, each a delta on the one before, each acked.
      await server.until(() => frames(first).length >= 2, 'a second reading');
      expect(frames(first)[1]?.type).toBe('delta');

      first?.socket.terminate();
      await server.until(() => frames(server.connections[1]).length > 0, 'a reading after reconnecting');
      const second = server.connections[1];
      expect(types(second)[0]).toBe('hello');
      // One stream, seqs that only grow (a frame unanswered at the drop is sent again), none applied twice.
      const seqs = server.received.map((r) => r.frame.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      const applied = server.received.filter((r) => r.outcome === 'applied').map((r) => r.frame.seq);
      expect(new Set(applied).size).toBe(applied.length);
      expect(server.received.every((r) => r.outcome === 'applied' || r.outcome === 'deduped')).toBe(true);
      const meta = JSON.parse(await readFile(path.join(state, 's', 'spool', 'meta.json'), 'utf8')) as {
        stream: string;
      };
      expect(new Set(server.received.map((r) => r.frame.stream))).toEqual(new Set([meta.stream]));

      agent.child.kill('SIGTERM');
      const closed = await second?.closed;
      const result = await agent.done;
      expect(closed?.code).toBe(1000);
      expect(result.code).toBe(0);
      const logs = result.stderr
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { level: string; msg: string });
      expect(logs.map((l) => l.msg)).toEqual(
        expect.arrayContaining(['connected', 'disconnected', 'stopping', 'stopped']),
      );
      // Every line is JSON (no runtime warning in between), and the first names the walker.
      expect(logs.find((l) => l.msg === 'starting')).toMatchObject({ walker: 'native' });
      // Without --expose-gc there is no collection to ask for.
      expect(logs.map((l) => l.msg)).not.toContain('garbage collected after a pass');
      expect(logs.map((l) => l.msg)).not.toContain('garbage collected before the slow collectors');
      expect(result.stdout).toBe('');
    } finally {
      agent.child.kill('SIGKILL');
      await server.close();
    }
  });

  it('asks V8 for a full collection after a pass when node exposes gc, as the unit runs it', async () => {
    const server = await fakeServer();
    const state = await newStateDir();
    const agent = runCli(['run', '--server', server.url, '--interval', '1', '--state-dir', path.join(state, 's')], {
      env: { DOCKER_HOST: env.host, BALLAST_TOKEN: TOKEN, BALLAST_LOG_LEVEL: 'debug', NODE_OPTIONS: '--expose-gc' },
    });
    const collections = (msg = 'garbage collected after a pass') =>
      agent
        .output()
        .stderr.split('\n')
        .filter((l) => l.includes(`"${msg}"`))
        .map((l) => JSON.parse(l) as { ms: number; heapUsedBefore: number; heapUsedAfter: number });
    try {
      await expect.poll(() => collections().length, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(2);
      // Each is followed by a second one that returns the pages the first freed.
      await expect
        .poll(() => collections('garbage collected again').length, { timeout: 10_000 })
        .toBeGreaterThanOrEqual(2);
      // And one between the slow pass's relist and its walks.
      const before = collections('garbage collected before the slow collectors');
      expect(before.length).toBeGreaterThanOrEqual(1);
      for (const c of [...collections(), ...collections('garbage collected again'), ...before]) {
        expect(c.ms).toBeGreaterThanOrEqual(0);
        expect(c.heapUsedAfter).toBeLessThanOrEqual(c.heapUsedBefore);
      }
    } finally {
      agent.child.kill('SIGKILL');
      await server.close();
    }
  });
});

describe('ballast-agent run under server back-off (CLI process)', () => {
  it('sends nothing for at least retryAfterSeconds after a busy answer, then the same frame again', async () => {
    const server = await fakeServer({ busy: { times: 2, retryAfterSeconds: 3 } });
    const state = await tempDir('run-busy');
    dirs.push(state);
    const agent = runCli(['run', '--server', server.url, '--interval', '1', '--state-dir', path.join(state, 's')], {
      env: { DOCKER_HOST: env.host, BALLAST_TOKEN: TOKEN, BALLAST_LOG_LEVEL: 'debug' },
    });
    try {
      // Two refusals, then acks: at a 1 s interval the agent would otherwise send every second.
      await server.until(() => server.received.length >= 4, 'frames after two back-offs', 90_000);
      const [r1, r2, r3, r4] = server.received as [Received, Received, Received, Received];
      expect(r2.at - r1.at).toBeGreaterThanOrEqual(3_000);
      expect(r3.at - r2.at).toBeGreaterThanOrEqual(3_000);
      // The refused frame is kept and sent again, byte for byte, until stored.
      expect([r1.outcome, r2.outcome, r3.outcome]).toEqual(['busy', 'busy', 'applied']);
      expect(r2.raw).toBe(r1.raw);
      expect(r3.raw).toBe(r1.raw);
      // The readings spooled meanwhile follow at once, each a delta on the one before.
      expect(r4.at - r3.at).toBeLessThan(1_000);
      expect(r4.frame).toMatchObject({ type: 'delta', seq: r3.frame.seq + 1, baseSeq: r3.frame.seq });
      expect(r4.outcome).toBe('applied');
      agent.child.kill('SIGTERM');
      const result = await agent.done;
      const backoffs = result.stderr
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { msg: string; retryAfterSeconds?: number })
        .filter((l) => l.msg === 'server busy: backing off before sending again');
      expect(backoffs.map((l) => l.retryAfterSeconds)).toEqual([3, 3]);
    } finally {
      agent.child.kill('SIGKILL');
      await server.close();
    }
  }, 120_000);
});

describe("ballast-agent run in the server's line (CLI process)", () => {
  const run = async (name: string, busy: NonNullable<Parameters<typeof fakeServer>[0]>['busy']) => {
    const server = await fakeServer({ busy });
    const state = await tempDir(name);
    dirs.push(state);
    const agent = runCli(['run', '--server', server.url, '--interval', '1', '--state-dir', path.join(state, 's')], {
      env: { DOCKER_HOST: env.host, BALLAST_TOKEN: TOKEN, BALLAST_LOG_LEVEL: 'debug' },
    });
    return { server, agent };
  };

  it('waits for proceed after a queued busy, then sends the same frame at once, long before the back-off', async () => {
    const { server, agent } = await run('run-proceed', {
      times: 1,
      retryAfterSeconds: 60,
      queued: true,
      proceedAfterMs: 2_000,
    });
    try {
      await server.until(() => server.received.length >= 2, 'the frame sent again after proceed', 90_000);
      const [r1, r2] = server.received as [Received, Received];
      expect(r1.outcome).toBe('busy');
      // Nothing in the 2 s before proceed (at a 1 s interval the agent would otherwise send),
      // then the held frame at once: not after the 60 s back-off.
      expect(r2.at - r1.at).toBeGreaterThanOrEqual(2_000);
      expect(r2.at - r1.at).toBeLessThan(10_000);
      expect(r2.raw).toBe(r1.raw);
      expect(r2.outcome).toBe('applied');
      expect(r2.connection).toBe(r1.connection);
    } finally {
      agent.child.kill('SIGKILL');
      await server.close();
    }
  }, 120_000);

  it('falls back to retryAfterSeconds when the connection, and with it the place in line, is lost', async () => {
    const { server, agent } = await run('run-queued-drop', {
      times: 1,
      retryAfterSeconds: 4,
      queued: true,
      dropAfterMs: 500,
    });
    try {
      await server.until(() => server.received.length >= 2, 'the frame sent again after reconnecting', 90_000);
      const [r1, r2] = server.received as [Received, Received];
      expect(r1.outcome).toBe('busy');
      expect(r2.connection).toBeGreaterThan(r1.connection);
      // The back-off the server estimated holds across the reconnect; the grace for a missing
      // proceed (120 s more) does not.
      expect(r2.at - r1.at).toBeGreaterThanOrEqual(4_000);
      expect(r2.at - r1.at).toBeLessThan(30_000);
      expect(r2.raw).toBe(r1.raw);
      expect(r2.outcome).toBe('applied');
    } finally {
      agent.child.kill('SIGKILL');
      await server.close();
    }
  }, 120_000);
});

/** Stops what a test started (runners, scanners), after each test. */
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0)) await fn();
});

/** An AgentRunner with its own spool and scanner against the test dockerd, not started. */
async function runner(
  serverUrl: string,
  lines: string[],
  overrides: Partial<ConstructorParameters<typeof AgentRunner>[0]> = {},
  options: { state?: string; limits?: Partial<SpoolLimits> } = {},
) {
  const state = options.state ?? (await newStateDir());
  const log = createLogger('debug', (l) => lines.push(l));
  const spool = await Spool.open(state, log, options.limits);
  const { client, scanner } = await testScanner(state);
  const agent = new AgentRunner({
    serverUrl: `${serverUrl.replace('http', 'ws')}${AGENT_WS_PATH}`,
    token: TOKEN,
    ca: null,
    intervalSeconds: 1,
    slowIntervalSeconds: 600,
    scanner,
    spool,
    log,
    backoff: { minMs: 50, maxMs: 200 },
    unauthorizedRetryMs: 300,
    ...overrides,
  });
  cleanups.push(async () => {
    await agent.stop();
    scanner.close();
    client.close();
  });
  return { agent, spool, state };
}

describe('AgentRunner', () => {
  it('logs a clear message on 4401 and keeps retrying slowly', async () => {
    const server = await fakeServer({ onConnection: (c) => c.socket.close(CloseCode.unauthorized, 'unauthorized') });
    const lines: string[] = [];
    try {
      const { agent } = await runner(server.url, lines);
      const started = Date.now();
      agent.start();
      await server.until(() => server.connections.length >= 2, 'a retry after 4401');
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      const refused = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.code === 4401);
      expect(refused).toMatchObject({
        level: 'error',
        msg: expect.stringContaining('refused this agent: check the token'),
      });
    } finally {
      await server.close();
    }
  });

  it('treats an HTTP 401 on the upgrade like a refused token', async () => {
    const server = await fakeServer({ rejectHttp: 401 });
    const lines: string[] = [];
    try {
      const { agent } = await runner(server.url, lines);
      agent.start();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const refused = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.httpStatus === 401);
      expect(refused).toMatchObject({ level: 'error', msg: expect.stringContaining('refused this agent') });
    } finally {
      await server.close();
    }
  });

  it('sends heartbeats while connected', async () => {
    const server = await fakeServer();
    try {
      const { agent } = await runner(server.url, [], { heartbeatMs: 100, intervalSeconds: 600 });
      agent.start();
      // With 100 ms beats the agent drops a connection after 300 ms without a pong; on a loaded
      // machine the in-process walk can delay one, so count beats on whichever connection is live.
      await server.until(
        () => server.connections.some((c) => types(c).filter((t) => t === 'heartbeat').length >= 2),
        'heartbeats',
      );
    } finally {
      await server.close();
    }
  });

  it('drops the connection when the server sends a frame outside the protocol', async () => {
    const server = await fakeServer({
      welcome: false,
      onConnection: (c) => c.socket.send(JSON.stringify({ v: 1, type: 'exec', command: 'rm -rf /' })),
    });
    const lines: string[] = [];
    try {
      const { agent } = await runner(server.url, lines);
      agent.start();
      const closed = await new Promise<{ code: number }>((resolve) => {
        void server
          .until(() => server.connections.length > 0, 'a connection')
          .then(() => {
            void server.connections[0]?.closed.then(resolve);
          });
      });
      expect(closed.code).toBe(CloseCode.badFrame);
      expect(lines.join('')).toContain('unknown message type');
    } finally {
      await server.close();
    }
  });
});

/** Seqs of the frame files in a state dir's spool, in order. */
async function spooledSeqs(state: string): Promise<number[]> {
  const names = await readdir(path.join(state, SPOOL_DIR));
  return names.flatMap((n) => (/^\d{16}\.json$/.test(n) ? [Number(n.slice(0, 16))] : [])).sort((a, b) => a - b);
}
const frameFile = (state: string, seq: number) => path.join(state, SPOOL_DIR, `${String(seq).padStart(16, '0')}.json`);
const readJson = async <T>(file: string) => JSON.parse(await readFile(file, 'utf8')) as T;
const volumeNames = (host: HostState | null) => (host?.inventory.volumes ?? []).map((v) => v.name);

function parseFrame(raw: string): InventoryFrame {
  const parsed = parseAgentMessage(raw);
  if (!parsed.ok || (parsed.message.type !== 'snapshot' && parsed.message.type !== 'delta')) {
    throw new Error(`not a spooled frame: ${raw.slice(0, 80)}`);
  }
  return parsed.message;
}

describe('AgentRunner: readings spooled, sent as deltas, acked', () => {
  /** A runner on `state`, started. */
  async function start(
    serverUrl: string,
    state: string,
    lines: string[] = [],
    overrides: Partial<ConstructorParameters<typeof AgentRunner>[0]> = {},
    limits: Partial<SpoolLimits> = {},
  ) {
    const started = await runner(serverUrl, lines, overrides, { state, limits });
    started.agent.start();
    return started;
  }

  /**
   * Stops the agent while the server holds back its answers, then checks the outcome: the meta
   * file records the server's last ack, the server's state with the unacked frames applied in
   * order is exactly the agent's latest reading, and so is what a restart rebuilds from disk
   * (the checkpoint with the frames after it applied in order; no acked frame before it left).
   */
  async function stopAndCompare(
    server: Awaited<ReturnType<typeof fakeServer>>,
    agent: AgentRunner,
    state: string,
    hold: { on: boolean },
  ) {
    hold.on = true;
    // An ack already on its way reaches the agent before it stops.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await agent.stop();
    let host = server.host;
    if (!host) throw new Error('the server stored nothing');
    const meta = await readJson<{ stream: string; acked: number }>(path.join(state, SPOOL_DIR, 'meta.json'));
    expect(meta.acked).toBe(host.seq);
    const files = await spooledSeqs(state);
    const applyFiles = async (base: HostState, seqs: number[]) => {
      let at = base;
      for (const seq of seqs) {
        const stored = storeFrame(at, parseFrame(await readFile(frameFile(state, seq), 'utf8')));
        if (stored.outcome !== 'applied') throw new Error(`frame ${seq} does not apply: ${stored.outcome}`);
        at = stored.host;
      }
      return at;
    };
    const acked = host.seq;
    host = await applyFiles(
      host,
      files.filter((seq) => seq > acked),
    );
    const checkpoint = await readJson<{ seq: number; inventory: Inventory }>(path.join(state, SPOOL_DIR, 'tip.json'));
    expect(files.filter((seq) => seq <= acked).every((seq) => seq > checkpoint.seq)).toBe(true);
    const rebuilt = await applyFiles(
      { stream: meta.stream, ...checkpoint },
      files.filter((seq) => seq > checkpoint.seq),
    );
    expect(rebuilt.seq).toBe(host.seq);
    expect(inventoryByKey(rebuilt.inventory)).toEqual(inventoryByKey(host.inventory));
  }

  it('sends a snapshot then deltas; the state the server builds follows docker and equals the latest reading', async () => {
    const hold = { on: false };
    const server = await fakeServer({ answer: () => (hold.on ? 'silent' : 'store') });
    const volume = `ballast-spool-test-${process.pid}`;
    try {
      const state = await newStateDir();
      const { agent } = await start(server.url, state);
      await server.until(() => server.received.length >= 2, 'two readings');
      await docker(env, ['volume', 'create', volume]);
      await server.until(() => volumeNames(server.host).includes(volume), 'the new volume in the server state');
      await docker(env, ['volume', 'rm', volume]);
      await server.until(() => !volumeNames(server.host).includes(volume), 'the volume gone from the server state');
      const dockerVolumes = (await docker(env, ['volume', 'ls', '--format', '{{.Name}}'])).split('\n').filter(Boolean);
      expect(volumeNames(server.host).sort()).toEqual(dockerVolumes.sort());

      expect(server.received[0]?.frame.type).toBe('snapshot');
      expect(server.received.slice(1).map((r) => r.frame.type)).toEqual(server.received.slice(1).map(() => 'delta'));
      expect(server.received.map((r) => r.outcome)).toEqual(server.received.map(() => 'applied'));
      // Much smaller than the snapshot: only what changed travels.
      const [first, ...rest] = server.received.map((r) => Buffer.byteLength(r.raw));
      expect(Math.max(...rest)).toBeLessThan((first as number) / 2);
      await stopAndCompare(server, agent, state, hold);
    } finally {
      await docker(env, ['volume', 'rm', '-f', volume]).catch(() => '');
      await server.close();
    }
  });

  it('sends a frame left unanswered by a dropped connection again, byte for byte, and it is applied once', async () => {
    const hold = { on: false };
    const state = await newStateDir();
    let atDrop: { raw: string; onDisk: string; modes: number[] } | null = null;
    const server = await fakeServer({
      answer: (frame, raw) => {
        if (hold.on) return 'silent';
        if (frame.seq !== 3 || atDrop) return 'store';
        // Stored, but the ack never leaves: the agent still has the frame on disk, private.
        const dir = path.join(state, SPOOL_DIR);
        atDrop = {
          raw,
          onDisk: readFileSync(frameFile(state, 3), 'utf8'),
          modes: [dir, path.join(dir, 'meta.json'), path.join(dir, 'tip.json'), frameFile(state, 3)].map(
            (f) => statSync(f).mode & 0o777,
          ),
        };
        return 'store-and-drop';
      },
    });
    try {
      const { agent } = await start(server.url, state);
      await server.until(
        () => server.received.filter((r) => r.connection === 1 && r.outcome === 'applied').length >= 2,
        'two readings stored after reconnecting',
      );
      const dropped = atDrop as { raw: string; onDisk: string; modes: number[] } | null;
      expect(dropped?.onDisk).toBe(dropped?.raw);
      expect(dropped?.modes).toEqual([0o700, 0o600, 0o600, 0o600]);
      const firstAfter = server.received.find((r) => r.connection === 1);
      expect(firstAfter?.raw).toBe(dropped?.raw);
      expect(firstAfter?.outcome).toBe('deduped');
      const applied = server.received.filter((r) => r.outcome === 'applied').map((r) => r.frame.seq);
      expect(applied.filter((seq) => seq === 3)).toHaveLength(1);
      expect(new Set(applied).size).toBe(applied.length);
      await stopAndCompare(server, agent, state, hold);
    } finally {
      await server.close();
    }
  });

  it('continues the stream after a restart: unacked frames first, then deltas on the tip rebuilt from disk', async () => {
    const hold = { on: false };
    const state = await newStateDir();
    const server = await fakeServer({ answer: () => (hold.on ? 'silent' : 'store') });
    try {
      const first = await start(server.url, state);
      await server.until(() => server.received.filter((r) => r.outcome === 'applied').length >= 3, 'three readings');
      hold.on = true;
      await server.until(() => first.spool.backlog.frames >= 2, 'two unacked readings');
      await first.agent.stop();
      const meta = await readJson<{ stream: string; lastSeq: number; acked: number }>(
        path.join(state, SPOOL_DIR, 'meta.json'),
      );
      // Acked frames after the checkpoint stay on disk for the tip; the unacked ones are sent.
      const held = (await spooledSeqs(state)).filter((seq) => seq > meta.acked);
      const unanswered = server.received.at(-1) as Received;
      expect(unanswered.outcome).toBe('silent');
      expect(held[0]).toBe(unanswered.frame.seq);
      expect(held.at(-1)).toBe(meta.lastSeq);

      hold.on = false;
      const before = server.received.length;
      const second = await start(server.url, state);
      await server.until(
        () => server.received.slice(before).filter((r) => r.frame.seq > meta.lastSeq).length >= 2,
        'new readings after the restart',
      );
      const after = server.received.slice(before);
      expect(after[0]?.raw).toBe(unanswered.raw);
      expect(after.slice(0, held.length).map((r) => r.frame.seq)).toEqual(held);
      expect(after[held.length]?.frame).toMatchObject({
        type: 'delta',
        stream: meta.stream,
        seq: meta.lastSeq + 1,
        baseSeq: meta.lastSeq,
      });
      expect(after.map((r) => r.outcome)).toEqual(after.map(() => 'applied'));
      expect(new Set(server.received.map((r) => r.frame.stream))).toEqual(new Set([meta.stream]));
      await stopAndCompare(server, second.agent, state, hold);
    } finally {
      await server.close();
    }
  });

  it('answers a resync with a full snapshot at a higher seq', async () => {
    const hold = { on: false };
    const state = await newStateDir();
    const server = await fakeServer({ answer: () => (hold.on ? 'silent' : 'store') });
    const lines: string[] = [];
    try {
      const { agent } = await start(server.url, state, lines);
      await server.until(() => server.received.length >= 2, 'two readings');
      // The server lost what it held for this host: the next delta has no base.
      server.host = null;
      await server.until(() => server.received.some((r) => r.outcome === 'resync'), 'a resync');
      const resynced = server.received.findIndex((r) => r.outcome === 'resync');
      await server.until(() => server.received.length > resynced + 1, 'the frame after the resync');
      const refused = server.received[resynced] as Received;
      const next = server.received[resynced + 1] as Received;
      expect(refused.frame.type).toBe('delta');
      expect(next.frame.type).toBe('snapshot');
      expect(next.frame.seq).toBeGreaterThan(refused.frame.seq);
      expect(next.outcome).toBe('applied');
      expect(await spooledSeqs(state)).not.toContain(refused.frame.seq);
      expect(lines.some((l) => l.includes('the server asked for a full snapshot'))).toBe(true);
      await stopAndCompare(server, agent, state, hold);
    } finally {
      await server.close();
    }
  });

  it('sends a frame the server failed to store again, and replaces it by a full snapshot after three failures', async () => {
    const hold = { on: false };
    const state = await newStateDir();
    let failing: number | null = null;
    const server = await fakeServer({
      answer: (frame) => {
        if (hold.on) return 'silent';
        if (failing === null && frame.type === 'delta') failing = frame.seq;
        return frame.seq === failing ? 'ingest_failed' : 'store';
      },
    });
    try {
      const { agent } = await start(server.url, state, [], { ingestRetryMs: 300 });
      await server.until(
        () =>
          failing !== null && server.received.some((r) => r.frame.seq > (failing as number) && r.outcome === 'applied'),
        'a reading stored after the failing one',
      );
      const failed = server.received.filter((r) => r.frame.seq === failing);
      expect(failed.map((r) => r.outcome)).toEqual(['ingest_failed', 'ingest_failed', 'ingest_failed']);
      expect(new Set(failed.map((r) => r.raw)).size).toBe(1);
      expect((failed[1] as Received).at - (failed[0] as Received).at).toBeGreaterThanOrEqual(300);
      const next = server.received[server.received.indexOf(failed[2] as Received) + 1];
      expect(next?.frame.type).toBe('snapshot');
      expect(next?.outcome).toBe('applied');
      await stopAndCompare(server, agent, state, hold);
    } finally {
      await server.close();
    }
  });

  it('replaces a backlog past its bound by one full snapshot, sent after reconnecting', async () => {
    const hold = { on: true };
    const state = await newStateDir();
    const server = await fakeServer({ answer: () => (hold.on ? 'silent' : 'store') });
    const lines: string[] = [];
    try {
      const { agent } = await start(server.url, state, lines, {}, { maxFrames: 3 });
      const overflow = () =>
        lines
          .map((l) => JSON.parse(l) as { msg: string; dropped?: number })
          .find((l) => l.msg.startsWith('spool full'));
      await server.until(() => overflow() !== undefined, 'the spool to overflow');
      expect(overflow()?.dropped).toBe(3);
      expect(server.received.map((r) => r.frame.seq)).toEqual([1]);
      expect(await spooledSeqs(state)).toEqual([4]);
      hold.on = false;
      server.connections.at(-1)?.socket.terminate();
      await server.until(() => server.received.some((r) => r.connection === 1), 'a frame after reconnecting');
      const resent = server.received.find((r) => r.connection === 1);
      expect(resent?.frame).toMatchObject({ type: 'snapshot', seq: 4 });
      expect(resent?.outcome).toBe('applied');
      await server.until(() => server.received.filter((r) => r.outcome === 'applied').length >= 2, 'a delta on it');
      await stopAndCompare(server, agent, state, hold);
    } finally {
      await server.close();
    }
  });
});
