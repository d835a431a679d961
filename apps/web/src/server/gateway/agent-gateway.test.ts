import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Database, fullInventorySql, openDatabase } from '@ballast/db';
import { createTestDatabase } from '@ballast/db/test/pg';
import {
  AGENT_WS_PATH,
  CloseCode,
  diffInventories,
  type Inventory,
  inventoryByKey,
  MAX_FRAME_BYTES,
  type ServerMessage,
} from '@ballast/shared';
import { makeSampleInventory } from '@ballast/shared/sample-inventory';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HostEvents } from '../events';
import { createLogger } from '../log';
import { listHosts } from '../services/hosts';
import { ensureDefaultOrganization } from '../services/organizations';
import { sharedTokenAuthenticator } from './agent-auth';
import { type AgentGateway, createAgentGateway } from './agent-gateway';
import { createIngestHandlers } from './ingest-handlers';

const TOKEN = 'test-token-0123456789abcdef';

let server: Server;
let gateway: AgentGateway;
let db: Database;
let dropDatabase: () => Promise<void>;
let orgId: string;
let url: string;
let databaseUrl: string;
const events = new HostEvents();

/** Reads what PostgreSQL holds, as an independent check of what the gateway says it stored. */
async function sql<T extends pg.QueryResultRow>(text: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await client.query<T>(text, values);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  databaseUrl = database.url;
  db = await openDatabase({ databaseUrl: database.url, dataDir: '/nonexistent' });
  orgId = (await ensureDefaultOrganization(db.prisma)).id;
  gateway = createAgentGateway({
    authenticate: sharedTokenAuthenticator(TOKEN, orgId),
    handlers: createIngestHandlers(db.prisma, events),
    log: createLogger('error'),
    serverVersion: 'test',
    snapshotIntervalSeconds: 60,
    helloTimeoutMs: 500,
  });
  server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => {
    if (!gateway.handleUpgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}${AGENT_WS_PATH}`;
});

afterAll(async () => {
  await gateway?.close();
  server?.close();
  await db?.close();
  await dropDatabase?.();
});

interface Conversation {
  ws: WebSocket;
  next(): Promise<ServerMessage>;
  closed: Promise<{ code: number; reason: string }>;
}

function connect(token: string | null = TOKEN): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const queue: ServerMessage[] = [];
    const waiters: ((m: ServerMessage) => void)[] = [];
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as ServerMessage;
      const waiter = waiters.shift();
      if (waiter) waiter(message);
      else queue.push(message);
    });
    const closed = new Promise<{ code: number; reason: string }>((res) =>
      ws.on('close', (code, reason) => res({ code, reason: reason.toString() })),
    );
    ws.on('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.on('error', reject);
    ws.on('open', () =>
      resolve({
        ws,
        closed,
        next: () => {
          const queued = queue.shift();
          return queued ? Promise.resolve(queued) : new Promise((res) => waiters.push(res));
        },
      }),
    );
  });
}

const hello = (machineId: string) =>
  JSON.stringify({ v: 1, type: 'hello', agentVersion: '0.1.0', machineId, hostname: machineId, capabilities: [] });

describe('agent gateway', () => {
  it('refuses an upgrade without a token or with a wrong one', async () => {
    await expect(connect(null)).rejects.toThrow('HTTP 401');
    await expect(connect('wrong-token-0123456789')).rejects.toThrow('HTTP 401');
  });

  it('welcomes a hello, acks a snapshot and stores it', async () => {
    const c = await connect();
    c.ws.send(hello('gw-host-1'));
    const welcome = await c.next();
    expect(welcome).toMatchObject({ type: 'welcome', snapshotIntervalSeconds: 60 });
    const inventory = makeSampleInventory({ machineId: 'gw-host-1', hostname: 'gw-host-1' });
    c.ws.send(JSON.stringify({ v: 1, type: 'snapshot', stream: 'gw-stream-1', seq: 7, inventory }));
    expect(await c.next()).toEqual({ v: 1, type: 'ack', seq: 7 });
    const host = (await listHosts(db.prisma, orgId)).find((h) => h.machineId === 'gw-host-1');
    expect(host?.latest?.imagesBytes).toBe(inventory.totals.imagesBytes);
    expect(host?.connected).toBe(true);
    c.ws.close(1000);
    await c.closed;
    await expect
      .poll(async () => (await listHosts(db.prisma, orgId)).find((h) => h.machineId === 'gw-host-1')?.connected)
      .toBe(false);
  });

  it('answers malformed JSON with an error frame and closes with 4400', async () => {
    const c = await connect();
    c.ws.send('{not json');
    expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_frame' });
    expect((await c.closed).code).toBe(CloseCode.badFrame);
  });

  it('denies unknown message types', async () => {
    const c = await connect();
    c.ws.send(hello('gw-host-2'));
    await c.next();
    c.ws.send(JSON.stringify({ v: 1, type: 'docker.exec', cmd: ['sh'] }));
    expect(await c.next()).toMatchObject({ type: 'error', code: 'unknown_type' });
    expect((await c.closed).code).toBe(CloseCode.badFrame);
  });

  it('refuses an unsupported protocol version with a clear close reason', async () => {
    const c = await connect();
    c.ws.send(JSON.stringify({ v: 99, type: 'hello' }));
    expect(await c.next()).toMatchObject({ type: 'error', code: 'unsupported_version' });
    const closed = await c.closed;
    expect(closed.code).toBe(CloseCode.unsupportedVersion);
    expect(closed.reason).toContain('not supported');
  });

  it('refuses a snapshot before hello', async () => {
    const c = await connect();
    c.ws.send(
      JSON.stringify({ v: 1, type: 'snapshot', stream: 'gw-stream-2', seq: 1, inventory: makeSampleInventory() }),
    );
    expect(await c.next()).toMatchObject({ type: 'error', code: 'not_ready' });
    expect((await c.closed).code).toBe(CloseCode.badFrame);
  });

  it('closes a connection that never says hello', async () => {
    const c = await connect();
    expect((await c.closed).code).toBe(CloseCode.helloTimeout);
  });

  it('drops oversized frames without reading them into a snapshot', async () => {
    const c = await connect();
    c.ws.send(hello('gw-host-3'));
    await c.next();
    c.ws.send('x'.repeat(MAX_FRAME_BYTES + 1));
    expect((await c.closed).code).toBe(CloseCode.frameTooLarge);
  });

  it('keeps serving other agents while one misbehaves', async () => {
    const bad = await connect();
    const good = await connect();
    bad.ws.send('garbage');
    good.ws.send(hello('gw-host-4'));
    expect(await good.next()).toMatchObject({ type: 'welcome' });
    expect((await bad.closed).code).toBe(CloseCode.badFrame);
    good.ws.send(
      JSON.stringify({
        v: 1,
        type: 'snapshot',
        stream: 'gw-stream-4',
        seq: 1,
        inventory: makeSampleInventory({ machineId: 'gw-host-4' }),
      }),
    );
    expect(await good.next()).toMatchObject({ type: 'ack', seq: 1 });
    good.ws.close();
  });

  it('applies deltas on the stored seq, acks re-sent frames once, and asks for a resync on a gap', async () => {
    const machineId = 'gw-host-delta';
    const stream = 'gw-delta-stream';
    const at = (minute: number) => new Date(Date.UTC(2026, 10, 23, 10, minute));
    const v1 = makeSampleInventory({ machineId, hostname: machineId, collectedAt: at(0) });
    const v2 = structuredClone(v1);
    v2.collectedAt = at(1).toISOString();
    (v2.containers[0] as Inventory['containers'][number]).logBytes += 4096;
    v2.volumes = [];
    const stored = async () => {
      const { rows } = await sql<{ stream: string; seq: string; inventory: Inventory; samples: number }>(
        `SELECT i.stream, i.seq, ${fullInventorySql('i')} AS inventory,
                (SELECT sum(samples)::int FROM host_usage_hourly u WHERE u.org_id = i.org_id AND u.host_id = i.host_id) AS samples
         FROM host_inventories i JOIN hosts h ON h.org_id = i.org_id AND h.id = i.host_id WHERE h.machine_id = $1`,
        [machineId],
      );
      return rows[0];
    };
    const frame = (f: Record<string, unknown>) => JSON.stringify({ v: 1, stream, ...f });
    const delta12 = frame({ type: 'delta', seq: 2, baseSeq: 1, delta: diffInventories(v1, v2) });

    const c = await connect();
    c.ws.send(hello(machineId));
    await c.next();
    c.ws.send(frame({ type: 'snapshot', seq: 1, inventory: v1 }));
    expect(await c.next()).toEqual({ v: 1, type: 'ack', seq: 1 });
    c.ws.send(delta12);
    expect(await c.next()).toEqual({ v: 1, type: 'ack', seq: 2 });
    const afterDelta = await stored();
    expect(afterDelta).toMatchObject({ stream, seq: '2', samples: 2 });
    expect(inventoryByKey(afterDelta?.inventory as Inventory)).toEqual(inventoryByKey(v2));

    // The connection drops before the agent sees an ack: a new connection re-sends both frames.
    c.ws.close();
    const again = await connect();
    again.ws.send(hello(machineId));
    await again.next();
    again.ws.send(frame({ type: 'snapshot', seq: 1, inventory: v1 }));
    expect(await again.next()).toEqual({ v: 1, type: 'ack', seq: 1 });
    again.ws.send(delta12);
    expect(await again.next()).toEqual({ v: 1, type: 'ack', seq: 2 });
    const afterResend = await stored();
    expect(afterResend).toMatchObject({ seq: '2', samples: 2 });
    expect(inventoryByKey(afterResend?.inventory as Inventory)).toEqual(inventoryByKey(v2));

    // A gap, another stream's base, and a delta that names what the base lacks: nothing stored.
    const v3 = structuredClone(v2);
    v3.collectedAt = at(2).toISOString();
    again.ws.send(frame({ type: 'delta', seq: 4, baseSeq: 3, delta: diffInventories(v2, v3) }));
    expect(await again.next()).toMatchObject({ type: 'resync', seq: 4, reason: expect.stringContaining('seq 2') });
    again.ws.send(
      frame({ type: 'delta', stream: 'gw-other-stream', seq: 3, baseSeq: 2, delta: diffInventories(v2, v3) }),
    );
    expect(await again.next()).toMatchObject({ type: 'resync', seq: 3, reason: expect.stringContaining('stream') });
    again.ws.send(frame({ type: 'delta', seq: 3, baseSeq: 2, delta: diffInventories(v1, v3) }));
    expect(await again.next()).toMatchObject({
      type: 'resync',
      seq: 3,
      reason: expect.stringContaining('is not in the base'),
    });
    expect(await stored()).toMatchObject({ stream, seq: '2', samples: 2 });

    // The agent answers a resync with a full snapshot, which is stored.
    again.ws.send(frame({ type: 'snapshot', seq: 3, inventory: v3 }));
    expect(await again.next()).toEqual({ v: 1, type: 'ack', seq: 3 });
    // A reinstalled agent starts a new stream at seq 1: a new stream's snapshot is stored.
    const v4 = structuredClone(v3);
    v4.collectedAt = at(3).toISOString();
    again.ws.send(frame({ type: 'snapshot', stream: 'gw-reinstalled', seq: 1, inventory: v4 }));
    expect(await again.next()).toEqual({ v: 1, type: 'ack', seq: 1 });
    const afterReinstall = await stored();
    expect(afterReinstall).toMatchObject({ stream: 'gw-reinstalled', seq: '1', samples: 4 });
    expect(afterReinstall?.inventory.collectedAt).toBe(v4.collectedAt);
    again.ws.close();
  });

  it('closes on a malformed delta and keeps the stored reading', async () => {
    const c = await connect();
    c.ws.send(hello('gw-host-bad-delta'));
    await c.next();
    const inventory = makeSampleInventory({ machineId: 'gw-host-bad-delta' });
    c.ws.send(JSON.stringify({ v: 1, type: 'snapshot', stream: 'gw-bad-delta', seq: 1, inventory }));
    expect(await c.next()).toMatchObject({ type: 'ack', seq: 1 });
    c.ws.send(
      JSON.stringify({
        v: 1,
        type: 'delta',
        stream: 'gw-bad-delta',
        seq: 2,
        baseSeq: 1,
        delta: { set: { collectedAt: new Date().toISOString(), images: [] } },
      }),
    );
    expect(await c.next()).toMatchObject({
      type: 'error',
      code: 'bad_frame',
      message: expect.stringContaining('delta'),
    });
    expect((await c.closed).code).toBe(CloseCode.badFrame);
    const { rows } = await sql<{ seq: string }>(
      `SELECT i.seq FROM host_inventories i JOIN hosts h ON h.org_id = i.org_id AND h.id = i.host_id WHERE h.machine_id = $1`,
      ['gw-host-bad-delta'],
    );
    expect(rows).toEqual([{ seq: '1' }]);
  });
});
