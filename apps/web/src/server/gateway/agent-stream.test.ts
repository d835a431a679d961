// The real agent (`ballast-agent run`, its own process, against the test dockerd) and the real
// gateway on PostgreSQL: readings arrive as deltas on one stream, what is stored is what the
// engine holds, and neither a server restart nor an agent restart loses, repeats or resyncs a
// reading.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Database, fullInventorySql, openDatabase } from '@ballast/db';
import { createTestDatabase } from '@ballast/db/test/pg';
import type { Inventory } from '@ballast/shared';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostEvents } from '../events';
import { createLogger } from '../log';
import type { IngestOutcome, Reading } from '../services/ingest';
import { ensureDefaultOrganization } from '../services/organizations';
import { sharedTokenAuthenticator } from './agent-auth';
import { type AgentGateway, createAgentGateway } from './agent-gateway';
import { createIngestHandlers } from './ingest-handlers';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../..');
const TOKEN = 'stream-test-token-0123456789';
const dockerHost = process.env.BALLAST_TEST_DOCKER_HOST;
const STREAM_IMAGE = 'ballast-stream-test:';
const STREAM_IMAGES = 8;

interface Seen {
  type: Reading['type'];
  seq: number;
  status: IngestOutcome['status'];
}

let db: Database;
let dropDatabase: () => Promise<void>;
let databaseUrl: string;
let orgId: string;
let port = 0;
let stateDir: string;
const seen: Seen[] = [];

/** One server process on the shared database: HTTP server and gateway, on a fixed port once chosen. */
async function startGateway(): Promise<{ gateway: AgentGateway; server: Server }> {
  const handlers = createIngestHandlers(db.prisma, new HostEvents());
  const gateway = createAgentGateway({
    authenticate: sharedTokenAuthenticator(TOKEN, orgId),
    handlers: {
      ...handlers,
      // The real ingest, with a record of what each reading was and what became of it.
      onReading: async (o, h, reading) => {
        const outcome = await handlers.onReading(o, h, reading);
        seen.push({ type: reading.type, seq: reading.seq, status: outcome.status });
        return outcome;
      },
    },
    log: createLogger('error'),
    serverVersion: 'test',
    snapshotIntervalSeconds: 1,
  });
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => {
    if (!gateway.handleUpgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  return { gateway, server };
}

async function stopGateway(stack: { gateway: AgentGateway; server: Server }) {
  await stack.gateway.close();
  await new Promise((resolve) => stack.server.close(resolve));
}

function startAgent(): ChildProcess {
  const agent = spawn(
    process.execPath,
    [
      path.join(repoRoot, 'apps/agent/bin/ballast-agent.mjs'),
      'run',
      '--server',
      `http://127.0.0.1:${port}`,
      `--token=${TOKEN}`,
      '--docker-host',
      dockerHost as string,
      '--state-dir',
      stateDir,
      '--interval',
      '1',
    ],
    { cwd: repoRoot, env: process.env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  agent.stderr?.resume();
  return agent;
}

async function stopAgent(agent: ChildProcess) {
  if (agent.exitCode !== null) return;
  const exited = new Promise((resolve) => agent.once('exit', resolve));
  agent.kill('SIGTERM');
  await exited;
}

async function stored() {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ stream: string; seq: string; inventory: Inventory; samples: number }>(
      `SELECT i.stream, i.seq, ${fullInventorySql('i')} AS inventory,
              (SELECT sum(samples)::int FROM host_usage_hourly u WHERE u.org_id = i.org_id AND u.host_id = i.host_id) AS samples
       FROM host_inventories i`,
    );
    return rows[0];
  } finally {
    await client.end();
  }
}

async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', ['-H', dockerHost as string, ...args]);
  return stdout.trim();
}

const storedCount = () => seen.filter((s) => s.status === 'stored').length;

beforeAll(async () => {
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  databaseUrl = database.url;
  db = await openDatabase({ databaseUrl, dataDir: '/nonexistent' });
  orgId = (await ensureDefaultOrganization(db.prisma)).id;
  stateDir = mkdtempSync(path.join(tmpdir(), 'ballast-stream-'));
  if (dockerHost) {
    // An engine with images in it, whatever ran before: on a nearly empty one a new container
    // changes most of a tiny inventory and the agent rightly sends a full snapshot instead of a
    // delta.
    const rootfs = mkdtempSync(path.join(tmpdir(), 'ballast-stream-rootfs-'));
    try {
      mkdirSync(path.join(rootfs, 'bin'));
      copyFileSync('/bin/busybox', path.join(rootfs, 'bin/busybox'));
      await run('tar', ['-C', rootfs, '-cf', path.join(rootfs, 'rootfs.tar'), 'bin']);
      for (let i = 0; i < STREAM_IMAGES; i++) {
        await docker('import', '--message', `stream test ${i}`, path.join(rootfs, 'rootfs.tar'), `${STREAM_IMAGE}${i}`);
      }
    } finally {
      rmSync(rootfs, { recursive: true, force: true });
    }
  }
});

afterAll(async () => {
  if (dockerHost) {
    for (let i = 0; i < STREAM_IMAGES; i++) await docker('rmi', `${STREAM_IMAGE}${i}`).catch(() => undefined);
  }
  await db?.close();
  await dropDatabase?.();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

describe.skipIf(!dockerHost)('the agent stream through the gateway', () => {
  it('stores deltas on one stream exactly, across a server restart and an agent restart', async () => {
    let stack = await startGateway();
    let agent = startAgent();
    try {
      // A full snapshot first, deltas after it.
      await expect.poll(storedCount, { timeout: 90_000, interval: 250 }).toBeGreaterThanOrEqual(3);
      expect(seen[0]).toMatchObject({ type: 'snapshot', status: 'stored' });
      expect(seen.slice(1, 3).map((s) => s.type)).toEqual(['delta', 'delta']);
      const { stream } = (await stored()) as { stream: string };
      expect(stream).toMatch(/^[A-Za-z0-9_-]{8,64}$/);

      // What the deltas built is what the engine holds: a container created now arrives in a delta.
      const image = (await docker('image', 'ls', '--format', '{{.ID}}')).split('\n')[0] as string;
      await docker('create', '--name', 'ballast-stream-probe', image, '/bin/true');
      const probeId = await docker('inspect', '--format', '{{.Id}}', 'ballast-stream-probe');
      try {
        await expect
          .poll(async () => (await stored())?.inventory.containers.some((c) => c.id === probeId), { timeout: 30_000 })
          .toBe(true);
        expect(seen.at(-1)?.type).toBe('delta');
      } finally {
        await docker('rm', 'ballast-stream-probe');
      }
      await expect
        .poll(async () => (await stored())?.inventory.containers.some((c) => c.id === probeId), { timeout: 30_000 })
        .toBe(false);

      // The server restarts: the agent reconnects and carries on with deltas on the same stream.
      await stopGateway(stack);
      const beforeRestart = storedCount();
      stack = await startGateway();
      await expect.poll(storedCount, { timeout: 60_000, interval: 250 }).toBeGreaterThanOrEqual(beforeRestart + 2);

      // The agent restarts on its state directory: same stream, seq goes on, deltas on its tip.
      await stopAgent(agent);
      const seqBefore = Number((await stored())?.seq);
      const beforeAgentRestart = seen.length;
      agent = startAgent();
      await expect.poll(storedCount, { timeout: 90_000, interval: 250 }).toBeGreaterThanOrEqual(storedCount() + 2);
      const afterRestart = seen.slice(beforeAgentRestart);
      expect(afterRestart.every((s) => s.seq > seqBefore)).toBe(true);
      expect(afterRestart.find((s) => s.status === 'stored')?.type).toBe('delta');

      await stopAgent(agent);
      const final = await stored();
      expect(final?.stream).toBe(stream);
      // Nothing was resynced, nothing stored twice: the hourly samples count each stored reading once.
      expect(seen.filter((s) => s.status === 'resync')).toEqual([]);
      expect(final?.samples).toBe(storedCount());
      expect(Number(final?.seq)).toBe(Math.max(...seen.filter((s) => s.status === 'stored').map((s) => s.seq)));
      const engineImages = (await docker('image', 'ls', '--no-trunc', '--format', '{{.ID}}')).split('\n').sort();
      expect(final?.inventory.images.map((i) => i.id).sort()).toEqual([...new Set(engineImages)]);
    } finally {
      await stopAgent(agent);
      await stopGateway(stack);
    }
  }, 300_000);
});
