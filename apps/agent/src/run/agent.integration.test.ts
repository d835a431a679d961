import { rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import {
  AGENT_WS_PATH,
  type AgentMessage,
  CloseCode,
  JOB_KINDS,
  jobCapability,
  parseAgentMessage,
} from '@ballast/shared';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { type DockerTestEnv, requireDockerTestEnv, runCli, tempDir } from '../../test/helpers.js';
import { DockerClient } from '../docker/client.js';
import { parseDockerHost } from '../docker/endpoint.js';
import { DEFAULT_HOST_PATHS } from '../host.js';
import { createLogger, silentLogger } from '../log.js';
import { Scanner } from '../scanner.js';
import { StateStore } from '../state/store.js';
import { AgentRunner } from './agent.js';

const TOKEN = 'test-agent-token-0123456789';

interface Connection {
  socket: WebSocket;
  authorization: string | undefined;
  path: string | undefined;
  messages: AgentMessage[];
  closed: Promise<{ code: number; reason: string }>;
}

/** A minimal Ballast gateway: validates every frame, welcomes, acks snapshots. */
async function fakeServer(
  options: {
    onConnection?: (c: Connection) => void;
    welcome?: boolean;
    rejectHttp?: number;
    /** Answers the first this-many snapshots `busy` with this back-off instead of acking them. */
    busy?: { times: number; retryAfterSeconds: number };
  } = {},
) {
  let busyLeft = options.busy?.times ?? 0;
  /** When each snapshot arrived (ms since the epoch), over all connections. */
  const snapshotTimes: number[] = [];
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
    socket.on('message', (data) => {
      const parsed = parseAgentMessage(data.toString());
      if (!parsed.ok) {
        socket.close(CloseCode.badFrame, parsed.message);
        return;
      }
      conn.messages.push(parsed.message);
      if (parsed.message.type === 'hello' && options.welcome !== false) {
        socket.send(
          JSON.stringify({
            v: 1,
            type: 'welcome',
            hostId: 'host_test',
            serverVersion: 'test',
            snapshotIntervalSeconds: 1,
          }),
        );
      }
      if (parsed.message.type === 'snapshot') {
        snapshotTimes.push(Date.now());
        if (busyLeft > 0 && options.busy) {
          busyLeft -= 1;
          socket.send(
            JSON.stringify({
              v: 1,
              type: 'error',
              code: 'busy',
              message: 'server busy',
              seq: parsed.message.seq,
              retryAfterSeconds: options.busy.retryAfterSeconds,
            }),
          );
        } else socket.send(JSON.stringify({ v: 1, type: 'ack', seq: parsed.message.seq }));
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
  return {
    url: `http://127.0.0.1:${port}`,
    connections,
    snapshotTimes,
    until,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

const types = (c: Connection | undefined) => (c?.messages ?? []).map((m) => m.type);

let env: DockerTestEnv;
const dirs: string[] = [];
beforeAll(() => {
  env = requireDockerTestEnv();
});
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
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
      // No config file: remediation is on with every kind allowed.
      expect(hello).toMatchObject({
        type: 'hello',
        capabilities: ['inventory.v1', 'jobs', ...JOB_KINDS.map(jobCapability)],
      });
      const firstSnapshot = first?.messages[1];
      expect(firstSnapshot?.type === 'snapshot' && firstSnapshot.inventory.totals.unattributedBytes).not.toBeNull();

      // Snapshots keep coming every interval, each acked.
      await server.until(() => types(first).filter((t) => t === 'snapshot').length >= 2, 'a second snapshot');

      first?.socket.terminate();
      await server.until(() => types(server.connections[1]).includes('snapshot'), 'a snapshot after reconnecting');
      const second = server.connections[1];
      expect(types(second)[0]).toBe('hello');
      const seqs = [first, second].flatMap(
        (c) => c?.messages.flatMap((m) => (m.type === 'snapshot' ? [m.seq] : [])) ?? [],
      );
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);

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
      expect(result.stdout).toBe('');
    } finally {
      agent.child.kill('SIGKILL');
      await server.close();
    }
  });
});

describe('ballast-agent run under server back-off (CLI process)', () => {
  it('sends nothing for at least retryAfterSeconds after a busy answer, then resumes', async () => {
    const server = await fakeServer({ busy: { times: 2, retryAfterSeconds: 3 } });
    const state = await tempDir('run-busy');
    dirs.push(state);
    const agent = runCli(['run', '--server', server.url, '--interval', '1', '--state-dir', path.join(state, 's')], {
      env: { DOCKER_HOST: env.host, BALLAST_TOKEN: TOKEN, BALLAST_LOG_LEVEL: 'debug' },
    });
    try {
      // Two refusals, then acks: at a 1 s interval the agent would otherwise send every second.
      await server.until(() => server.snapshotTimes.length >= 4, 'snapshots after two back-offs', 90_000);
      const [t1, t2, t3, t4] = server.snapshotTimes as [number, number, number, number];
      expect(t2 - t1).toBeGreaterThanOrEqual(3_000);
      expect(t3 - t2).toBeGreaterThanOrEqual(3_000);
      // Acked snapshots follow the normal interval again.
      expect(t4 - t3).toBeLessThan(3_000);
      agent.child.kill('SIGTERM');
      const result = await agent.done;
      const backoffs = result.stderr
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { msg: string; retryAfterSeconds?: number })
        .filter((l) => l.msg === 'server busy: backing off before the next snapshot');
      expect(backoffs.map((l) => l.retryAfterSeconds)).toEqual([3, 3]);
    } finally {
      agent.child.kill('SIGKILL');
      await server.close();
    }
  }, 120_000);
});

describe('AgentRunner', () => {
  async function runner(
    serverUrl: string,
    lines: string[],
    overrides: Partial<ConstructorParameters<typeof AgentRunner>[0]> = {},
  ) {
    const state = await tempDir('runner');
    dirs.push(state);
    const client = new DockerClient(parseDockerHost(env.host));
    const store = await StateStore.open(state, silentLogger);
    const scanner = new Scanner({
      client,
      store,
      log: silentLogger,
      hostPaths: DEFAULT_HOST_PATHS,
      hostLabels: {},
      dataRootOverride: null,
      mountInfoPath: '/proc/self/mountinfo',
    });
    const agent = new AgentRunner({
      serverUrl: `${serverUrl.replace('http', 'ws')}${AGENT_WS_PATH}`,
      token: TOKEN,
      ca: null,
      intervalSeconds: 1,
      slowIntervalSeconds: 600,
      scanner,
      log: createLogger('debug', (l) => lines.push(l)),
      backoff: { minMs: 50, maxMs: 200 },
      unauthorizedRetryMs: 300,
      ...overrides,
    });
    cleanups.push(async () => {
      await agent.stop();
      client.close();
    });
    return agent;
  }
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0)) await fn();
  });

  it('logs a clear message on 4401 and keeps retrying slowly', async () => {
    const server = await fakeServer({ onConnection: (c) => c.socket.close(CloseCode.unauthorized, 'unauthorized') });
    const lines: string[] = [];
    try {
      const agent = await runner(server.url, lines);
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
      const agent = await runner(server.url, lines);
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
      const agent = await runner(server.url, [], { heartbeatMs: 100, intervalSeconds: 600 });
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
      const agent = await runner(server.url, lines);
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
