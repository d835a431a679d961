import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Database, openDatabase } from '@ballast/db';
import { createTestDatabase } from '@ballast/db/test/pg';
import { AGENT_ENROLL_PATH, AGENT_WS_PATH, CloseCode, type ServerMessage } from '@ballast/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { sha256Hex } from '../auth/secrets';
import { HostEvents } from '../events';
import { createLogger } from '../log';
import {
  authenticateAgentCredential,
  createEnrollmentToken,
  enrollAgent,
  revokeAgentCredential,
  revokeEnrollmentToken,
} from '../services/enrollment';
import { ensureDefaultOrganization } from '../services/organizations';
import { combinedAuthenticator, sharedTokenAuthenticator } from './agent-auth';
import { type AgentGateway, createAgentGateway } from './agent-gateway';
import { createIngestHandlers } from './ingest-handlers';

let server: Server;
let gateway: AgentGateway;
let db: Database;
let dropDatabase: () => Promise<void>;
let orgId: string;
let base: string;

beforeAll(async () => {
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  db = await openDatabase({ databaseUrl: database.url, dataDir: '/nonexistent' });
  orgId = (await ensureDefaultOrganization(db.prisma)).id;
  gateway = createAgentGateway({
    authenticate: combinedAuthenticator(
      (credential) => authenticateAgentCredential(db.prisma, credential),
      sharedTokenAuthenticator(undefined, orgId),
    ),
    enroll: (request) => enrollAgent(db.prisma, request),
    handlers: createIngestHandlers(db.prisma, new HostEvents()),
    log: createLogger('error'),
    serverVersion: 'test',
    snapshotIntervalSeconds: 60,
    enrollRateLimit: { max: 40, windowMs: 60_000 },
  });
  server = createServer((req, res) => {
    if (!gateway.handleRequest(req, res)) res.writeHead(404).end();
  });
  server.on('upgrade', (req, socket, head) => {
    if (!gateway.handleUpgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await gateway?.close();
  server?.close();
  await db?.close();
  await dropDatabase?.();
});

const newToken = async (overrides: { expiresInSeconds?: number; maxUses?: number } = {}) =>
  createEnrollmentToken(db.prisma, orgId, 'user:test', {
    name: 'test',
    expiresInSeconds: overrides.expiresInSeconds ?? 3600,
    maxUses: overrides.maxUses ?? 5,
  });

async function enroll(body: unknown) {
  const res = await fetch(`http://${base}${AGENT_ENROLL_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function connect(
  credential: string,
): Promise<{ ws: WebSocket; next(): Promise<ServerMessage>; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${base}${AGENT_WS_PATH}`, { headers: { authorization: `Bearer ${credential}` } });
    const queue: ServerMessage[] = [];
    const waiters: ((m: ServerMessage) => void)[] = [];
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as ServerMessage;
      const waiter = waiters.shift();
      if (waiter) waiter(message);
      else queue.push(message);
    });
    const closed = new Promise<number>((res) => ws.on('close', (code) => res(code)));
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

describe('agent enrollment', () => {
  it('exchanges a token for a credential once and stores only hashes', async () => {
    const { token, enrollmentToken } = await newToken();
    const res = await enroll({ token, machineId: 'enroll-1', hostname: 'enroll-1' });
    expect(res.status).toBe(201);
    const credential = String(res.body.credential);
    expect(credential).toMatch(/^bla_[0-9a-z]+_[A-Za-z0-9_-]{43}$/);
    expect(res.body).toMatchObject({ agentId: expect.stringMatching(/^agent_/), hostId: expect.any(String) });

    const tokenRow = await db.prisma.enrollmentToken.findUniqueOrThrow({
      where: { orgId_id: { orgId, id: enrollmentToken.id } },
    });
    expect(tokenRow.tokenHash).toBe(sha256Hex(token));
    expect(tokenRow.uses).toBe(1);
    const credentialRow = await db.prisma.agentCredential.findUniqueOrThrow({
      where: { orgId_id: { orgId, id: String(res.body.agentId) } },
    });
    expect(credentialRow.credentialHash).toBe(sha256Hex(credential));
    // Neither secret appears anywhere in the database, hashed columns aside.
    const dump = JSON.stringify(
      await Promise.all([
        db.prisma.enrollmentToken.findMany(),
        db.prisma.agentCredential.findMany(),
        db.prisma.auditEvent.findMany(),
        db.prisma.host.findMany(),
      ]),
    );
    expect(dump).not.toContain(token);
    expect(dump).not.toContain(credential);

    const c = await connect(credential);
    c.ws.send(hello('enroll-1'));
    expect(await c.next()).toMatchObject({ type: 'welcome', hostId: res.body.hostId });
    c.ws.close();
  });

  it('refuses unknown (401), expired, used-up and revoked (410) tokens', async () => {
    const body = { machineId: 'enroll-refused', hostname: 'h' };
    const unknown = await enroll({ ...body, token: `ble_${orgId.slice(4)}_${'A'.repeat(43)}` });
    expect(unknown).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
    expect((await enroll({ ...body, token: 'garbage' })).status).toBe(401);

    const expired = await newToken({ expiresInSeconds: -1 });
    expect(await enroll({ ...body, token: expired.token })).toMatchObject({
      status: 410,
      body: { error: 'token_expired' },
    });

    const single = await newToken({ maxUses: 1 });
    expect((await enroll({ ...body, machineId: 'single-1', token: single.token })).status).toBe(201);
    expect(await enroll({ ...body, machineId: 'single-2', token: single.token })).toMatchObject({
      status: 410,
      body: { error: 'token_used_up' },
    });

    const revoked = await newToken();
    await revokeEnrollmentToken(db.prisma, orgId, 'user:test', revoked.enrollmentToken.id);
    expect(await enroll({ ...body, token: revoked.token })).toMatchObject({
      status: 410,
      body: { error: 'token_revoked' },
    });
  });

  it('never lets concurrent enrollments exceed maxUses', async () => {
    const { token } = await newToken({ maxUses: 3 });
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => enroll({ token, machineId: `race-${i}`, hostname: 'race' })),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(3);
    expect(results.filter((r) => r.status === 410)).toHaveLength(5);
  });

  it('answers malformed bodies with 400', async () => {
    expect(await enroll('{nope')).toMatchObject({ status: 400, body: { error: 'bad_request' } });
    expect(await enroll({ token: 5, machineId: 'x', hostname: 'y' })).toMatchObject({ status: 400 });
  });

  it('disconnects a revoked agent within 5 seconds and refuses it afterwards', async () => {
    const { token } = await newToken();
    const res = await enroll({ token, machineId: 'revoke-me', hostname: 'revoke-me' });
    const credential = String(res.body.credential);
    const c = await connect(credential);
    c.ws.send(hello('revoke-me'));
    await c.next();
    const started = Date.now();
    await revokeAgentCredential(db.prisma, orgId, 'user:test', String(res.body.agentId));
    expect(gateway.disconnectAgent(String(res.body.agentId), 'credential revoked')).toBe(true);
    expect(await c.closed).toBe(CloseCode.forbidden);
    expect(Date.now() - started).toBeLessThan(5000);
    await expect(connect(credential)).rejects.toThrow('HTTP 401');
  });

  it('applies the clone rule: active credential → new host marked cloneOf; revoked → same host', async () => {
    const { token } = await newToken({ maxUses: 10 });
    const original = await enroll({ token, machineId: 'cloned-id', hostname: 'original' });
    const clone = await enroll({ token, machineId: 'cloned-id', hostname: 'clone' });
    expect(clone.status).toBe(201);
    expect(clone.body.hostId).not.toBe(original.body.hostId);
    expect(clone.body.cloneOf).toBe(original.body.hostId);
    const cloneHost = await db.prisma.host.findUniqueOrThrow({
      where: { orgId_id: { orgId, id: String(clone.body.hostId) } },
    });
    expect(cloneHost.cloneOf).toBe(original.body.hostId);

    // Revoking both credentials, then enrolling again, is a reinstall of the original host.
    await revokeAgentCredential(db.prisma, orgId, 'user:test', String(original.body.agentId));
    await revokeAgentCredential(db.prisma, orgId, 'user:test', String(clone.body.agentId));
    const reinstall = await enroll({ token, machineId: 'cloned-id', hostname: 'original' });
    expect(reinstall.body).toMatchObject({ hostId: original.body.hostId, cloneOf: null });
    expect(reinstall.body.agentId).not.toBe(original.body.agentId);
  });

  it('rate-limits enrollment attempts per client address with 429', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 45; i += 1) statuses.push((await enroll({ token: 'x', machineId: 'm', hostname: 'h' })).status);
    expect(statuses).toContain(429);
  });
});
