import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Database, openDatabase } from '@ballast/db';
import { createTestDatabase } from '@ballast/db/test/pg';
import { AGENT_WS_PATH, INGEST_PROCEED_CAPABILITY, type ServerMessage } from '@ballast/shared';
import { makeSampleInventory } from '@ballast/shared/sample-inventory';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HostEvents } from '../events';
import { createLogger } from '../log';
import { ensureDefaultOrganization } from '../services/organizations';
import { sharedTokenAuthenticator } from './agent-auth';
import { type AgentGateway, createAgentGateway } from './agent-gateway';
import { createIngestHandlers } from './ingest-handlers';
import { createIngestQueue } from './ingest-queue';

const TOKEN = 'test-token-backpressure-0123456789';
const LOCK = 4_242;
const AGENTS = 24;
const CAPACITY = 4;

let server: Server;
let gateway: AgentGateway;
let db: Database;
let dropDatabase: () => Promise<void>;
let databaseUrl: string;
let orgId: string;
let url: string;

beforeAll(async () => {
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  databaseUrl = database.url;
  db = await openDatabase({ databaseUrl, dataDir: '/nonexistent' });
  orgId = (await ensureDefaultOrganization(db.prisma)).id;
  // The slow database: every write of a host's latest inventory first waits for a shared
  // advisory lock, which the test holds exclusively for as long as it wants PostgreSQL stalled.
  await db.prisma.$executeRawUnsafe(`
    CREATE FUNCTION stall_writes() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_advisory_xact_lock_shared(${LOCK}); RETURN NEW; END $$`);
  await db.prisma.$executeRawUnsafe(
    'CREATE TRIGGER stall BEFORE INSERT OR UPDATE ON host_inventories FOR EACH ROW EXECUTE FUNCTION stall_writes()',
  );
  gateway = createAgentGateway({
    authenticate: sharedTokenAuthenticator(TOKEN, orgId),
    handlers: createIngestHandlers(db.prisma, new HostEvents()),
    log: createLogger('error'),
    serverVersion: 'test',
    snapshotIntervalSeconds: 60,
    ingestQueue: createIngestQueue({ capacity: CAPACITY, concurrency: 2, minRetrySeconds: 1, maxRetrySeconds: 2 }),
    proceedWithinSeconds: 2,
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

/** A protocol-level agent that obeys `busy`: it resends its latest snapshot after the back-off. */
function politeAgent(machineId: string) {
  const frames: ServerMessage[] = [];
  let acked = -1;
  let busyAnswers = 0;
  let sentAfterBusyTooEarly = 0;
  let notBefore = 0;
  let seq = 0;
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  const sendSnapshot = () => {
    // Timers may fire a millisecond before Date.now() reaches the mark; anything earlier counts.
    if (Date.now() < notBefore - 20) sentAfterBusyTooEarly += 1;
    seq += 1;
    const inventory = makeSampleInventory({ machineId, hostname: machineId });
    ws.send(JSON.stringify({ v: 1, type: 'snapshot', stream: `stream-${machineId}`, seq, inventory }));
  };
  const ready = new Promise<void>((resolve, reject) => {
    ws.on('error', reject);
    ws.on('open', () =>
      ws.send(
        JSON.stringify({
          v: 1,
          type: 'hello',
          agentVersion: '0.1.0',
          machineId,
          hostname: machineId,
          capabilities: [],
        }),
      ),
    );
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as ServerMessage;
      frames.push(message);
      if (message.type === 'welcome') resolve();
      if (message.type === 'ack') acked = Math.max(acked, message.seq);
      if (message.type === 'error' && message.code === 'busy') {
        busyAnswers += 1;
        const waitMs = (message.retryAfterSeconds ?? 0) * 1000;
        notBefore = Date.now() + waitMs;
        setTimeout(sendSnapshot, waitMs);
      }
    });
  });
  return {
    ws,
    ready,
    sendSnapshot,
    machineId,
    frames,
    get acked() {
      return acked;
    },
    get busyAnswers() {
      return busyAnswers;
    },
    get tooEarly() {
      return sentAfterBusyTooEarly;
    },
  };
}

/**
 * An agent announcing INGEST_PROCEED_CAPABILITY: after a queued `busy` it sends nothing until
 * `proceed`, then the same frame again (unless `ignoreProceed`, an agent that never comes).
 */
function queuedAgent(machineId: string, order: string[], options: { ignoreProceed?: boolean } = {}) {
  const frames: ServerMessage[] = [];
  let acked = -1;
  let frame = '';
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  const sendSnapshot = () => {
    const inventory = makeSampleInventory({ machineId, hostname: machineId });
    frame = JSON.stringify({ v: 1, type: 'snapshot', stream: `stream-${machineId}`, seq: 1, inventory });
    ws.send(frame);
  };
  const ready = new Promise<void>((resolve, reject) => {
    ws.on('error', reject);
    ws.on('open', () =>
      ws.send(
        JSON.stringify({
          v: 1,
          type: 'hello',
          agentVersion: '0.1.0',
          machineId,
          hostname: machineId,
          capabilities: ['inventory.v1', INGEST_PROCEED_CAPABILITY],
        }),
      ),
    );
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as ServerMessage;
      frames.push(message);
      if (message.type === 'welcome') resolve();
      if (message.type === 'ack') acked = message.seq;
      if (message.type === 'error' && message.code === 'busy') order.push(`busy ${machineId}`);
      if (message.type === 'proceed') {
        order.push(`proceed ${machineId}`);
        if (!options.ignoreProceed) ws.send(frame);
      }
    });
  });
  return {
    ws,
    ready,
    sendSnapshot,
    machineId,
    frames,
    get acked() {
      return acked;
    },
  };
}

describe('ingest backpressure', () => {
  it('tells agents to back off while the database stalls, holds memory bounded and loses nothing after', async () => {
    const holder = new pg.Client({ connectionString: databaseUrl });
    await holder.connect();
    await holder.query('SELECT pg_advisory_lock($1)', [LOCK]);
    const agents = Array.from({ length: AGENTS }, (_, i) => politeAgent(`bp-host-${i}`));
    await Promise.all(agents.map((a) => a.ready));
    for (const a of agents) a.sendSnapshot();

    // While stalled: every agent beyond the queue's capacity is answered `busy` with a back-off.
    await expect
      .poll(() => agents.filter((a) => a.busyAnswers > 0).length, { timeout: 10_000 })
      .toBe(AGENTS - CAPACITY);
    const busy = agents.flatMap((a) => a.frames).find((f) => f.type === 'error' && f.code === 'busy');
    expect(busy).toMatchObject({ type: 'error', code: 'busy', retryAfterSeconds: expect.any(Number) });
    // Retries keep arriving for a few seconds and are refused too; the queue never grows past its bound.
    let peak = 0;
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      const stats = gateway.ingestStats();
      peak = Math.max(peak, stats.admitted);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(peak).toBe(CAPACITY);
    expect(gateway.ingestStats().refusedBusy).toBeGreaterThan(AGENTS - CAPACITY);
    const stalled = await holder.query('SELECT count(*)::int AS n FROM host_inventories');
    expect(stalled.rows[0].n).toBe(0);

    // The database recovers: every agent's latest snapshot is stored exactly as acked.
    await holder.query('SELECT pg_advisory_unlock($1)', [LOCK]);
    await expect.poll(() => agents.filter((a) => a.acked > 0).length, { timeout: 30_000 }).toBe(AGENTS);
    const { rows } = await holder.query<{ machine_id: string; seq: string }>(
      `SELECT h.machine_id, i.seq FROM host_inventories i JOIN hosts h ON h.org_id = i.org_id AND h.id = i.host_id`,
    );
    expect(rows).toHaveLength(AGENTS);
    const stored = new Map(rows.map((r) => [r.machine_id, Number(r.seq)]));
    for (const a of agents) expect(stored.get(a.machineId)).toBe(a.acked);
    expect(agents.reduce((n, a) => n + a.tooEarly, 0)).toBe(0);
    await expect.poll(() => gateway.ingestStats().admitted).toBe(0);
    await holder.end();
    for (const a of agents) a.ws.close();
  }, 60_000);

  it('keeps each freed place for the next agent in line, in the order they were refused, each refused once', async () => {
    const holder = new pg.Client({ connectionString: databaseUrl });
    await holder.connect();
    await holder.query('SELECT pg_advisory_lock($1)', [LOCK]);
    const order: string[] = [];
    const agents = Array.from({ length: 10 }, (_, i) =>
      queuedAgent(`line-host-${i}`, order, { ignoreProceed: i === CAPACITY + 1 }),
    );
    await Promise.all(agents.map((a) => a.ready));
    const refusedBefore = gateway.ingestStats().refusedBusy;
    // The first CAPACITY fill the queue; the others are refused one after another.
    for (const a of agents.slice(0, CAPACITY)) a.sendSnapshot();
    await expect.poll(() => gateway.ingestStats().admitted).toBe(CAPACITY);
    for (const a of agents.slice(CAPACITY)) {
      const before = order.length;
      a.sendSnapshot();
      await expect.poll(() => order.length).toBe(before + 1);
    }
    const busy = agents[CAPACITY]?.frames.find((f) => f.type === 'error');
    expect(busy).toMatchObject({ code: 'busy', seq: 1, queued: true, retryAfterSeconds: expect.any(Number) });
    expect(gateway.ingestStats().line).toBe(agents.length - CAPACITY);
    // The first in line hangs up: its place goes to the next.
    agents[CAPACITY]?.ws.close();
    await new Promise((r) => setTimeout(r, 1_000));
    expect(order.filter((o) => o.startsWith('proceed'))).toEqual([]);

    await holder.query('SELECT pg_advisory_unlock($1)', [LOCK]);
    const served = agents.filter((_, i) => i !== CAPACITY && i !== CAPACITY + 1);
    await expect.poll(() => served.filter((a) => a.acked === 1).length, { timeout: 30_000 }).toBe(served.length);
    const inLine = agents.slice(CAPACITY + 1).map((a) => a.machineId);
    expect(order).toEqual([
      `busy line-host-${CAPACITY}`,
      ...inLine.map((m) => `busy ${m}`),
      ...inLine.map((m) => `proceed ${m}`),
    ]);
    // Nobody was refused twice, and the place kept for the agent that never sent was released.
    expect(gateway.ingestStats().refusedBusy - refusedBefore).toBe(agents.length - CAPACITY);
    await expect.poll(() => gateway.ingestStats().admitted, { timeout: 10_000 }).toBe(0);
    expect(gateway.ingestStats().line).toBe(0);
    const { rows } = await holder.query<{ machine_id: string }>(
      `SELECT h.machine_id FROM host_inventories i JOIN hosts h ON h.org_id = i.org_id AND h.id = i.host_id
       WHERE h.machine_id LIKE 'line-host-%'`,
    );
    expect(rows.map((r) => r.machine_id).sort()).toEqual(served.map((a) => a.machineId).sort());
    // Out of line, the agent that never sent is served like any other once there is room.
    const late = agents[CAPACITY + 1];
    late?.sendSnapshot();
    await expect.poll(() => late?.acked, { timeout: 10_000 }).toBe(1);
    await holder.end();
    for (const a of agents) a.ws.close();
  }, 60_000);
});
