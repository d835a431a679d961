// Job delivery through the real gateway and a real PostgreSQL. The agent here is a `ws`
// client speaking the protocol; the real agent's end-to-end run is in the e2e suite.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Database, openDatabase } from '@ballast/db';
import { createTestDatabase } from '@ballast/db/test/pg';
import { AGENT_WS_PATH, type JobPlan, type ServerMessage } from '@ballast/shared';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type HostChange, HostEvents } from '../events';
import { createLogger } from '../log';
import { approveJob, createJob, type JobCaller } from '../services/jobs';
import { ensureDefaultOrganization } from '../services/organizations';
import { ALL_JOB_CAPABILITIES, imageItem, makePlan, makeResult } from '../testing/jobs';
import { sharedTokenAuthenticator } from './agent-auth';
import { type AgentGateway, createAgentGateway } from './agent-gateway';
import { createIngestHandlers } from './ingest-handlers';
import { createJobDispatch, type JobDispatch } from './job-dispatch';

const TOKEN = 'test-token-0123456789abcdef';
const RESEND_MS = 400;

let db: Database;
let dropDatabase: () => Promise<void>;
let orgId: string;
let operator: JobCaller;
const events = new HostEvents();
const log = createLogger('error');

interface Stack {
  gateway: AgentGateway;
  jobs: JobDispatch;
  url: string;
  close(): Promise<void>;
}

/** One server process: an HTTP server, its gateway and its job dispatch, on the shared database. */
async function startStack(options: { silentAfterMs?: number } = {}): Promise<Stack> {
  const jobs = createJobDispatch({
    prisma: db.prisma,
    events,
    log,
    pollMs: 100,
    resendMs: RESEND_MS,
    sweepMs: 3_600_000,
    silentAfterMs: options.silentAfterMs ?? 3_600_000,
  });
  const gateway = createAgentGateway({
    authenticate: sharedTokenAuthenticator(TOKEN, orgId),
    handlers: createIngestHandlers(db.prisma, events),
    jobs,
    log,
    serverVersion: 'test',
    snapshotIntervalSeconds: 60,
  });
  const server: Server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => {
    if (!gateway.handleUpgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    gateway,
    jobs,
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}${AGENT_WS_PATH}`,
    close: async () => {
      jobs.close();
      await gateway.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Agent {
  hostId: string;
  /** The next server frame of a type (others of that type stay queued). */
  next<T extends ServerMessage['type']>(type: T, timeoutMs?: number): Promise<Extract<ServerMessage, { type: T }>>;
  /** Frames of this type received so far. */
  count(type: ServerMessage['type']): number;
  send(frame: object): void;
  close(): Promise<void>;
}

/** A protocol-speaking agent that announces every job kind. */
async function connectAgent(url: string, machineId: string): Promise<Agent> {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  const received: ServerMessage[] = [];
  const counts = new Map<string, number>();
  let wake: () => void = () => {};
  ws.on('message', (data) => {
    const message = JSON.parse(data.toString()) as ServerMessage;
    received.push(message);
    counts.set(message.type, (counts.get(message.type) ?? 0) + 1);
    wake();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const next: Agent['next'] = async (type, timeoutMs = 5_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = received.findIndex((m) => m.type === type);
      if (index >= 0) return received.splice(index, 1)[0] as never;
      if (Date.now() > deadline) throw new Error(`no ${type} frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 50);
      });
    }
  };
  ws.send(
    JSON.stringify({
      v: 1,
      type: 'hello',
      agentVersion: '0.2.0',
      machineId,
      hostname: machineId,
      capabilities: ALL_JOB_CAPABILITIES,
    }),
  );
  const welcome = await next('welcome');
  return {
    hostId: welcome.hostId,
    next,
    count: (type) => counts.get(type) ?? 0,
    send: (frame) => ws.send(JSON.stringify({ v: 1, ...frame })),
    close: () =>
      new Promise<void>((resolve) => {
        if (ws.readyState === ws.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.close(1000);
      }),
  };
}

async function sql<T>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: db.connectionString });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}
const jobRow = async (id: string) =>
  (
    await sql<{
      state: string;
      progress_done: number;
      bytes_freed: string | null;
      deliveries: number;
      error: string | null;
    }>('SELECT state, progress_done, bytes_freed, deliveries, error FROM jobs WHERE id = $1', [id])
  )[0];
const stateOf = async (id: string) => (await jobRow(id))?.state;
const waitForState = (id: string, state: string) => expect.poll(() => stateOf(id), { timeout: 5_000 }).toBe(state);
const auditActions = async (id: string) =>
  (await sql<{ action: string }>('SELECT action FROM audit_events WHERE target = $1 ORDER BY at, id', [id])).map(
    (r) => r.action,
  );

/** A job on the agent's host, planned by the agent and approved, up to the execute frame. */
async function approvedJob(agent: Agent, items = [imageItem(1, 1_000), imageItem(2, 2_000)]) {
  const { id } = await createJob(db.prisma, operator, {
    hostId: agent.hostId,
    kind: 'images.pruneDangling',
    params: {},
  });
  const request = await agent.next('job.plan');
  expect(request).toMatchObject({ jobId: id, kind: 'images.pruneDangling', params: {} });
  const plan = makePlan(id, 'images.pruneDangling', items);
  agent.send({ type: 'job.planned', jobId: id, plan });
  await waitForState(id, 'planned');
  await approveJob(db.prisma, operator, { id });
  return { id, plan };
}

beforeAll(async () => {
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  db = await openDatabase({ databaseUrl: database.url, dataDir: '/nonexistent' });
  orgId = (await ensureDefaultOrganization(db.prisma)).id;
  const userId = 'usr_operator';
  await db.prisma.user.create({ data: { id: userId, name: 'Op', email: 'op@example.test' } });
  operator = {
    orgId,
    actor: `user:${userId}`,
    actingUserId: userId,
    role: 'operator',
    requireTwoPersonApproval: false,
  };
});

afterAll(async () => {
  await db?.close();
  await dropDatabase?.();
});

describe('job delivery through the gateway', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack?.close());

  it('plans, approves, executes with live progress and stores the result, with an audit row per transition', async () => {
    const agent = await connectAgent(stack.url, 'deliver-1');
    const changes: HostChange[] = [];
    const controller = new AbortController();
    const listening = (async () => {
      for await (const change of events.stream(controller.signal)) if (change.reason === 'job') changes.push(change);
    })();
    const { id, plan } = await approvedJob(agent);
    const execute = await agent.next('job.execute');
    expect(execute.jobId).toBe(id);
    expect(execute.plan).toEqual(plan);
    await waitForState(id, 'running');

    agent.send({ type: 'job.progress', jobId: id, done: 1, total: 2, item: null });
    await expect.poll(async () => (await jobRow(id))?.progress_done).toBe(1);
    await expect.poll(() => changes.filter((c) => c.jobId === id).length).toBeGreaterThanOrEqual(3);

    const result = makeResult(plan);
    agent.send({ type: 'job.result', jobId: id, result });
    await waitForState(id, 'succeeded');
    expect(await jobRow(id)).toMatchObject({ bytes_freed: '3000', progress_done: 2 });
    expect(await auditActions(id)).toEqual([
      'job.requested',
      'job.planning',
      'job.planned',
      'job.approved',
      'job.running',
      'job.succeeded',
    ]);
    // Who moved it: the operator, the server's delivery, the agent's answers.
    const actors = await sql<{ action: string; actor: string }>(
      'SELECT action, actor FROM audit_events WHERE target = $1 ORDER BY at, id',
      [id],
    );
    expect(actors.map((r) => r.actor)).toEqual([
      operator.actor,
      'system',
      `agent:${agent.hostId}`,
      operator.actor,
      'system',
      `agent:${agent.hostId}`,
    ]);
    const [audit] = await sql<{ details: Record<string, unknown> }>(
      "SELECT details FROM audit_events WHERE target = $1 AND action = 'job.succeeded'",
      [id],
    );
    expect(audit?.details).toMatchObject({
      hostId: agent.hostId,
      kind: 'images.pruneDangling',
      planDigest: plan.digest,
      plannedBytes: 3000,
      bytesFreed: 3000,
    });
    controller.abort();
    await listening;
    await agent.close();
  });

  it('ignores duplicated and reordered frames, and frames for jobs of other hosts, without closing the socket', async () => {
    const agent = await connectAgent(stack.url, 'deliver-2');
    const intruder = await connectAgent(stack.url, 'deliver-2-other');
    const { id, plan } = await approvedJob(agent);
    await agent.next('job.execute');
    // Another host's agent answering for this job is ignored.
    intruder.send({ type: 'job.result', jobId: id, result: makeResult(plan, 'failed') });
    // A duplicated plan after approval, and progress then result then older progress.
    agent.send({ type: 'job.planned', jobId: id, plan });
    agent.send({ type: 'job.progress', jobId: id, done: 2, total: 2, item: null });
    agent.send({ type: 'job.progress', jobId: id, done: 1, total: 2, item: null });
    agent.send({ type: 'job.result', jobId: id, result: makeResult(plan, 'partial') });
    agent.send({ type: 'job.result', jobId: id, result: makeResult(plan, 'succeeded') });
    agent.send({ type: 'job.progress', jobId: id, done: 0, total: 2, item: null });
    agent.send({ type: 'job.rejected', jobId: id, phase: 'execute', code: 'invalid', message: 'late' });
    await waitForState(id, 'partial');
    // The frames after the first result are applied in order and all ignored.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await jobRow(id)).toMatchObject({ state: 'partial', bytes_freed: '2000', progress_done: 2 });
    expect(
      (await auditActions(id)).filter((a) => a === 'job.partial' || a === 'job.succeeded' || a === 'job.failed'),
    ).toEqual(['job.partial']);
    // The socket still serves: a heartbeat-free new job reaches it.
    const next = await createJob(db.prisma, operator, { hostId: agent.hostId, kind: 'buildCache.prune', params: {} });
    expect((await agent.next('job.plan')).jobId).toBe(next.id);
    await agent.close();
    await intruder.close();
  });

  it('survives a flood of job frames and keeps serving the agent', async () => {
    const agent = await connectAgent(stack.url, 'deliver-flood');
    for (let n = 0; n < 2_000; n += 1) {
      agent.send({ type: 'job.progress', jobId: `job_flood_${n}`, done: n, total: 2_000, item: null });
    }
    const { id } = await createJob(db.prisma, operator, {
      hostId: agent.hostId,
      kind: 'images.pruneDangling',
      params: {},
    });
    expect((await agent.next('job.plan', 10_000)).jobId).toBe(id);
    await agent.close();
  });

  it('re-sends a request the agent does not answer, at least once per interval', async () => {
    const agent = await connectAgent(stack.url, 'deliver-3');
    const { id } = await createJob(db.prisma, operator, { hostId: agent.hostId, kind: 'buildCache.prune', params: {} });
    expect((await agent.next('job.plan')).jobId).toBe(id);
    expect((await agent.next('job.plan', RESEND_MS * 4)).jobId).toBe(id);
    expect((await jobRow(id))?.deliveries).toBeGreaterThanOrEqual(2);
    agent.send({
      type: 'job.rejected',
      jobId: id,
      phase: 'plan',
      code: 'disabled',
      message: 'buildCache.prune is disabled',
    });
    await waitForState(id, 'failed');
    expect((await jobRow(id))?.error).toBe('agent refused: disabled: buildCache.prune is disabled');
    await agent.close();
  });

  it('fails a plan whose jobId or kind is not the job’s', async () => {
    const agent = await connectAgent(stack.url, 'deliver-4');
    const { id } = await createJob(db.prisma, operator, {
      hostId: agent.hostId,
      kind: 'images.pruneDangling',
      params: {},
    });
    await agent.next('job.plan');
    const wrong: JobPlan = makePlan(id, 'buildCache.prune', [imageItem(1, 5)]);
    agent.send({ type: 'job.planned', jobId: id, plan: wrong });
    await waitForState(id, 'failed');
    expect((await jobRow(id))?.error).toContain('the plan is for buildCache.prune');
    await agent.close();
  });

  it('keeps a busy job waiting and sends it again', async () => {
    const agent = await connectAgent(stack.url, 'deliver-5');
    const { id } = await approvedJob(agent);
    await agent.next('job.execute');
    agent.send({ type: 'job.rejected', jobId: id, phase: 'execute', code: 'busy', message: 'another job runs' });
    expect((await agent.next('job.execute', RESEND_MS * 4)).jobId).toBe(id);
    expect(await stateOf(id)).toBe('running');
    await agent.close();
  });
});

describe('jobs across connections and server processes', () => {
  it('delivers a job created while the agent was offline as soon as it connects', async () => {
    const stack = await startStack();
    try {
      const first = await connectAgent(stack.url, 'offline-1');
      await first.close();
      await expect
        .poll(async () => (await sql('SELECT 1 FROM hosts WHERE id = $1 AND NOT connected', [first.hostId])).length)
        .toBe(1);
      const { id } = await createJob(db.prisma, operator, {
        hostId: first.hostId,
        kind: 'images.pruneDangling',
        params: {},
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await stateOf(id)).toBe('requested');
      const again = await connectAgent(stack.url, 'offline-1');
      expect((await again.next('job.plan')).jobId).toBe(id);
      await waitForState(id, 'planning');
      await again.close();
    } finally {
      await stack.close();
    }
  });

  it('expires a job whose agent stays away past its deadline', async () => {
    const stack = await startStack();
    try {
      const agent = await connectAgent(stack.url, 'offline-2');
      await agent.close();
      const { id } = await createJob(db.prisma, operator, {
        hostId: agent.hostId,
        kind: 'images.pruneDangling',
        params: {},
        ttlMinutes: 1,
      });
      expect(await stack.jobs.sweep()).toMatchObject({ expired: [] });
      await sql("UPDATE jobs SET deadline = now() - interval '1 second' WHERE id = $1", [id]);
      expect((await stack.jobs.sweep()).expired).toContain(id);
      expect(await stateOf(id)).toBe('expired');
      // A late connect gets nothing for it.
      const late = await connectAgent(stack.url, 'offline-2');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(late.count('job.plan')).toBe(0);
      await late.close();
      expect(await auditActions(id)).toEqual(['job.requested', 'job.expired']);
    } finally {
      await stack.close();
    }
  });

  it('marks a running job of a silent agent unknown, and resolves it with the late result', async () => {
    const stack = await startStack({ silentAfterMs: 200 });
    try {
      const agent = await connectAgent(stack.url, 'silent-1');
      const { id, plan } = await approvedJob(agent);
      await agent.next('job.execute');
      await agent.close();
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect((await stack.jobs.sweep()).unknown).toContain(id);
      expect(await stateOf(id)).toBe('unknown');
      // On reconnect the server asks again; the agent's ledger answers with the stored result.
      const back = await connectAgent(stack.url, 'silent-1');
      expect((await back.next('job.execute')).jobId).toBe(id);
      back.send({ type: 'job.result', jobId: id, result: makeResult(plan) });
      await waitForState(id, 'succeeded');
      expect((await auditActions(id)).slice(-2)).toEqual(['job.unknown', 'job.succeeded']);
      await back.close();
    } finally {
      await stack.close();
    }
  });

  it('resumes delivery from the database after a server restart mid-job', async () => {
    const first = await startStack();
    const agent = await connectAgent(first.url, 'restart-1');
    const { id, plan } = await approvedJob(agent);
    await agent.next('job.execute');
    await waitForState(id, 'running');
    await agent.close();
    await first.close();

    const second = await startStack();
    try {
      const back = await connectAgent(second.url, 'restart-1');
      const execute = await back.next('job.execute');
      expect(execute).toMatchObject({ jobId: id, plan });
      back.send({ type: 'job.result', jobId: id, result: makeResult(plan) });
      await waitForState(id, 'succeeded');
      await back.close();
    } finally {
      await second.close();
    }
  });

  it('delivers a job created on another process to the process holding the socket', async () => {
    const holder = await startStack();
    const other = await startStack();
    try {
      const agent = await connectAgent(holder.url, 'scale-1');
      // Created through "the other process": it only writes the row; the holder's poll finds it.
      const { id } = await createJob(db.prisma, operator, {
        hostId: agent.hostId,
        kind: 'images.pruneDangling',
        params: {},
      });
      expect((await agent.next('job.plan')).jobId).toBe(id);
      await agent.close();
    } finally {
      await other.close();
      await holder.close();
    }
  });
});
