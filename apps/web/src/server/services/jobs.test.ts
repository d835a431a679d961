import { createPrismaClient, type DbClient } from '@ballast/db';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../errors';
import { ALL_JOB_CAPABILITIES, imageItem, makePlan } from '../testing/jobs';
import { createWorld, silentLog, type World } from '../testing/world';
import { listJobAudit } from './audit';
import { registerHost } from './ingest';
import { applyJobFrame } from './job-agent';
import { transitionJobNow } from './job-transitions';
import {
  approveCampaign,
  approveJob,
  cancelJob,
  createCampaign,
  createJob,
  createJobFromOpportunity,
  getJob,
  type JobCaller,
  listCampaigns,
  listJobs,
  updateJobPolicy,
} from './jobs';

let world: World;
let prisma: DbClient;
let orgId: string;
let operator: JobCaller;
let admin: JobCaller;
let hostId: string;
let bareHostId: string;

const caller = (user: { userId: string }, role: 'operator' | 'admin'): JobCaller => ({
  orgId,
  actor: `user:${user.userId}`,
  actingUserId: user.userId,
  role,
  requireTwoPersonApproval: false,
});

/** SQL, not the service: the independent view of a job row and its audit rows. */
async function sql<T>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: world.db.connectionString });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}
const stateOf = async (id: string) =>
  (await sql<{ state: string }>('SELECT state FROM jobs WHERE id = $1', [id]))[0]?.state;
const auditActions = async (id: string) =>
  (await sql<{ action: string }>('SELECT action FROM audit_events WHERE target = $1 ORDER BY at, action', [id])).map(
    (r) => r.action,
  );

/** Drives a requested job to planned through the agent path, with the given plan items. */
async function planJob(id: string, kind: Parameters<typeof makePlan>[1], items = [imageItem(1, 1000)], params = {}) {
  const outcome = await applyJobFrame(
    prisma,
    orgId,
    hostId,
    { v: 1, type: 'job.planned', jobId: id, plan: makePlan(id, kind, items, { params }) },
    silentLog,
  );
  return outcome;
}

beforeAll(async () => {
  world = await createWorld();
  prisma = world.db.prisma;
  orgId = world.orgA;
  operator = caller(world.a.operator, 'operator');
  admin = caller(world.a.admin, 'admin');
  ({ hostId } = await registerHost(prisma, orgId, {
    machineId: 'jobs-host',
    hostname: 'jobs-host',
    agentVersion: '0.2.0',
    capabilities: ALL_JOB_CAPABILITIES,
  }));
  ({ hostId: bareHostId } = await registerHost(prisma, orgId, {
    machineId: 'old-agent',
    hostname: 'old-agent-host',
    agentVersion: '0.1.0',
    capabilities: ['jobs', 'job:images.pruneDangling'],
  }));
});

afterAll(async () => {
  await world?.close();
});

describe('creating jobs', () => {
  it('stores a requested job with validated parameters (defaults filled) and an audit row', async () => {
    const { id } = await createJob(prisma, operator, {
      hostId,
      kind: 'images.pruneUnused',
      params: { minAgeDays: 30 },
    });
    const [row] = await sql<{ state: string; params: Record<string, unknown>; requested_by: string }>(
      'SELECT state, params, requested_by FROM jobs WHERE id = $1',
      [id],
    );
    expect(row).toEqual({
      state: 'requested',
      params: { minAgeDays: 30, keepNewestTagsPerRepository: 2, protectedImagePatterns: [], protectedLabels: [] },
      requested_by: operator.actor,
    });
    expect(await auditActions(id)).toEqual(['job.requested']);
  });

  it('refuses bad parameters with the contract message, storing nothing', async () => {
    const before = await sql<{ n: number }>('SELECT count(*)::int AS n FROM jobs');
    await expect(
      createJob(prisma, operator, { hostId, kind: 'images.pruneUnused', params: { minAgeDays: -1 } }),
    ).rejects.toThrow(/images.pruneUnused: minAgeDays/);
    await expect(
      createJob(prisma, operator, { hostId, kind: 'volumes.remove', params: { volumes: ['data'] } }),
    ).rejects.toThrow(/confirmDataLoss/);
    expect(await sql<{ n: number }>('SELECT count(*)::int AS n FROM jobs')).toEqual(before);
  });

  it('refuses a host whose agent did not announce the kind, naming the host and capability', async () => {
    const error = await createJob(prisma, operator, {
      hostId: bareHostId,
      kind: 'buildCache.prune',
      params: {},
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('BAD_REQUEST');
    expect((error as AppError).message).toContain('old-agent-host');
    expect((error as AppError).message).toContain('"job:buildCache.prune"');
    await expect(
      createJob(prisma, operator, { hostId: bareHostId, kind: 'images.pruneDangling', params: {} }),
    ).resolves.toMatchObject({ id: expect.stringMatching(/^job_/) });
  });

  it('plans from an opportunity: its action, and volumes only when named one by one from its list', async () => {
    await prisma.hostOpportunity.createMany({
      data: [
        {
          orgId,
          hostId,
          kind: 'buildCache.reclaimable',
          title: 'cache',
          reclaimableBytes: 7000n,
          monthlyCost: 0.1,
          risk: 'low',
          confidence: 'exact',
          explanation: '',
          caveats: [],
          objects: [],
          action: { kind: 'buildCache.prune', params: {} },
          defaultSelected: true,
          computedAt: new Date(),
        },
        {
          orgId,
          hostId,
          kind: 'volumes.unused',
          title: 'volumes',
          reclaimableBytes: 9000n,
          monthlyCost: 0.1,
          risk: 'high',
          confidence: 'exact',
          explanation: '',
          caveats: [],
          objects: [
            { id: 'old-data', name: 'old-data', bytes: 5000 },
            { id: 'scratch', name: 'scratch', bytes: 4000 },
          ],
          defaultSelected: false,
          computedAt: new Date(),
        },
      ],
    });
    const cache = await createJobFromOpportunity(prisma, operator, {
      hostId,
      opportunityKind: 'buildCache.reclaimable',
    });
    expect(await getJob(prisma, orgId, cache.id)).toMatchObject({
      kind: 'buildCache.prune',
      opportunityKind: 'buildCache.reclaimable',
    });

    await expect(
      createJobFromOpportunity(prisma, operator, { hostId, opportunityKind: 'volumes.unused' }),
    ).rejects.toThrow('name the volumes to remove, one by one');
    await expect(
      createJobFromOpportunity(prisma, operator, { hostId, opportunityKind: 'volumes.unused', volumes: ['data'] }),
    ).rejects.toThrow('not an unused volume of this host: data');
    const volumes = await createJobFromOpportunity(prisma, operator, {
      hostId,
      opportunityKind: 'volumes.unused',
      volumes: ['old-data'],
    });
    expect((await getJob(prisma, orgId, volumes.id)).params).toEqual({ volumes: ['old-data'], confirmDataLoss: true });
  });
});

describe('state machine', () => {
  it('lets exactly one of two concurrent approvals through two connections win', async () => {
    const { id } = await createJob(prisma, operator, { hostId, kind: 'images.pruneDangling', params: {} });
    expect(await planJob(id, 'images.pruneDangling')).toMatchObject({ applied: true, state: 'planned' });
    const other = createPrismaClient(world.db.connectionString);
    try {
      const results = await Promise.allSettled([
        approveJob(prisma, operator, { id }),
        approveJob(other, admin, { id }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((r) => r.status === 'rejected');
      expect((rejected as PromiseRejectedResult).reason).toMatchObject({ code: 'CONFLICT' });
    } finally {
      await other.$disconnect();
    }
    expect(await stateOf(id)).toBe('approved');
    expect(await auditActions(id)).toEqual(['job.requested', 'job.planning', 'job.planned', 'job.approved']);
  });

  it('writes no audit row for a transition that lost its race, and none when the state is not allowed', async () => {
    const { id } = await createJob(prisma, operator, { hostId, kind: 'images.pruneDangling', params: {} });
    const stale = await transitionJobNow(prisma, { orgId, jobId: id, from: 'planned', to: 'approved', actor: 'x' });
    expect(stale).toBe(false);
    await expect(
      transitionJobNow(prisma, { orgId, jobId: id, from: 'requested', to: 'succeeded', actor: 'x' }),
    ).rejects.toThrow('not allowed');
    expect(await stateOf(id)).toBe('requested');
    expect(await auditActions(id)).toEqual(['job.requested']);
  });

  it('rolls the state change back when its audit row cannot be written (same transaction)', async () => {
    const { id } = await createJob(prisma, operator, { hostId, kind: 'images.pruneDangling', params: {} });
    // A trigger that refuses this one audit row stands in for any failure of the audit insert.
    await sql(`
      CREATE FUNCTION refuse_cancel_audit() RETURNS trigger AS $$
      BEGIN
        IF NEW.action = 'job.cancelled' AND NEW.target = '${id}' THEN RAISE EXCEPTION 'audit refused'; END IF;
        RETURN NEW;
      END $$ LANGUAGE plpgsql;
      CREATE TRIGGER refuse_cancel_audit BEFORE INSERT ON audit_events
        FOR EACH ROW EXECUTE FUNCTION refuse_cancel_audit();`);
    try {
      await expect(cancelJob(prisma, operator, id)).rejects.toThrow('audit refused');
    } finally {
      await sql('DROP TRIGGER refuse_cancel_audit ON audit_events; DROP FUNCTION refuse_cancel_audit();');
    }
    expect(await stateOf(id)).toBe('requested');
    expect(await auditActions(id)).toEqual(['job.requested']);
    await cancelJob(prisma, operator, id);
    expect(await stateOf(id)).toBe('cancelled');
  });

  it('approves only planned jobs and cancels only before running', async () => {
    const { id } = await createJob(prisma, operator, { hostId, kind: 'images.pruneDangling', params: {} });
    await expect(approveJob(prisma, operator, { id })).rejects.toThrow('only a planned job can be approved');
    await planJob(id, 'images.pruneDangling');
    await approveJob(prisma, operator, { id });
    await transitionJobNow(prisma, { orgId, jobId: id, from: 'approved', to: 'running', actor: 'system' });
    await expect(cancelJob(prisma, operator, id)).rejects.toThrow('can no longer be cancelled');
    expect(await stateOf(id)).toBe('running');
  });

  it('honours the two-person rule', async () => {
    const { id } = await createJob(prisma, operator, { hostId, kind: 'images.pruneDangling', params: {} });
    await planJob(id, 'images.pruneDangling');
    await expect(approveJob(prisma, { ...operator, requireTwoPersonApproval: true }, { id })).rejects.toThrow(
      'two-person rule',
    );
    await approveJob(prisma, { ...admin, requireTwoPersonApproval: true }, { id });
    expect(await stateOf(id)).toBe('approved');
  });

  it('asks for the typed confirmation before approving volume removal', async () => {
    const { id } = await createJob(prisma, operator, {
      hostId,
      kind: 'volumes.remove',
      params: { volumes: ['old-data', 'scratch'], confirmDataLoss: true },
    });
    const volume = (name: string, bytes: number) => ({ type: 'volume' as const, id: name, name, bytes });
    await planJob(id, 'volumes.remove', [volume('old-data', 5000), volume('scratch', 4000)]);
    expect((await getJob(prisma, orgId, id)).confirmationPhrase).toBe('remove 2 volumes');
    await expect(approveJob(prisma, operator, { id })).rejects.toThrow('type "remove 2 volumes" to approve');
    await expect(approveJob(prisma, operator, { id, confirmation: 'remove 1 volume' })).rejects.toThrow(
      'type "remove 2 volumes"',
    );
    expect(await stateOf(id)).toBe('planned');
    await approveJob(prisma, operator, { id, confirmation: 'remove 2 volumes' });
    expect(await stateOf(id)).toBe('approved');
  });

  it('fails a volumes plan that names a volume the operator did not name', async () => {
    const { id } = await createJob(prisma, operator, {
      hostId,
      kind: 'volumes.remove',
      params: { volumes: ['old-data'], confirmDataLoss: true },
    });
    const outcome = await planJob(id, 'volumes.remove', [
      { type: 'volume', id: 'old-data', name: 'old-data', bytes: 5 },
      { type: 'volume', id: 'data', name: 'data', bytes: 7 },
    ]);
    expect(outcome).toMatchObject({ applied: true, state: 'failed' });
    const [row] = await sql<{ error: string; plan: unknown }>('SELECT error, plan FROM jobs WHERE id = $1', [id]);
    expect(row?.error).toContain('not named: data');
    expect(row?.plan).toBeNull();
  });
});

describe('auto-approval policy', () => {
  it('approves plans of listed kinds on arrival, as the policy, and never volumes.remove', async () => {
    await expect(updateJobPolicy(prisma, orgId, admin.actor, { autoApproveKinds: ['volumes.remove'] })).rejects.toThrow(
      'never approved automatically',
    );
    await updateJobPolicy(prisma, orgId, admin.actor, { autoApproveKinds: ['buildCache.prune'] });
    try {
      const auto = await createJob(prisma, operator, { hostId, kind: 'buildCache.prune', params: {} });
      const manual = await createJob(prisma, operator, { hostId, kind: 'images.pruneDangling', params: {} });
      expect(await planJob(auto.id, 'buildCache.prune')).toMatchObject({ state: 'approved' });
      expect(await planJob(manual.id, 'images.pruneDangling')).toMatchObject({ state: 'planned' });
      const [row] = await sql<{ approved_by: string }>('SELECT approved_by FROM jobs WHERE id = $1', [auto.id]);
      expect(row?.approved_by).toBe('policy:auto-approve');
    } finally {
      await updateJobPolicy(prisma, orgId, admin.actor, { autoApproveKinds: [] });
    }
  });
});

describe('campaigns', () => {
  it('creates one job per host and approves the planned ones together, with per-host status', async () => {
    const { hostId: second } = await registerHost(prisma, orgId, {
      machineId: 'jobs-host-2',
      hostname: 'jobs-host-2',
      agentVersion: '0.2.0',
      capabilities: ALL_JOB_CAPABILITIES,
    });
    await expect(
      createCampaign(prisma, operator, { hostIds: [hostId, bareHostId], kind: 'buildCache.prune', params: {} }),
    ).rejects.toThrow('old-agent-host');
    const campaign = await createCampaign(prisma, operator, {
      hostIds: [hostId, second],
      kind: 'images.pruneDangling',
      params: {},
    });
    expect(campaign.jobIds).toHaveLength(2);
    const [first] = campaign.jobIds;
    await planJob(first as string, 'images.pruneDangling');
    expect(await approveCampaign(prisma, operator, { id: campaign.id })).toEqual({ approved: 1, waiting: 1 });
    const listed = (await listCampaigns(prisma, orgId)).find((c) => c.id === campaign.id);
    expect(listed?.byState).toEqual({ approved: 1, requested: 1 });
    expect(listed?.jobs.map((j) => j.hostname).sort()).toEqual(['jobs-host', 'jobs-host-2']);
    expect((await listJobs(prisma, orgId, { campaignId: campaign.id, limit: 10 })).map((j) => j.id).sort()).toEqual(
      [...campaign.jobIds].sort(),
    );
  });
});

describe('audit list', () => {
  it('filters by actor, host, kind and time range', async () => {
    const start = new Date();
    const { hostId: other } = await registerHost(prisma, orgId, {
      machineId: 'audit-host',
      hostname: 'audit-host',
      agentVersion: '0.2.0',
      capabilities: ALL_JOB_CAPABILITIES,
    });
    const a = await createJob(prisma, operator, { hostId: other, kind: 'logs.configureRotation', params: {} });
    const b = await createJob(prisma, admin, { hostId: other, kind: 'buildCache.configureGC', params: {} });
    await cancelJob(prisma, admin, a.id);
    const byHost = await listJobAudit(prisma, orgId, { hostId: other, limit: 100 });
    expect(byHost.map((r) => [r.action, r.target]).sort()).toEqual(
      [
        ['job.cancelled', a.id],
        ['job.requested', a.id],
        ['job.requested', b.id],
      ].sort(),
    );
    const byKind = await listJobAudit(prisma, orgId, { hostId: other, kind: 'logs.configureRotation', limit: 100 });
    expect(byKind.map((r) => r.action).sort()).toEqual(['job.cancelled', 'job.requested']);
    const byActor = await listJobAudit(prisma, orgId, { hostId: other, actor: admin.actor, limit: 100 });
    expect(byActor.map((r) => r.action).sort()).toEqual(['job.cancelled', 'job.requested']);
    expect(byActor[0]?.actorName).toBe(world.a.admin.email);
    expect(await listJobAudit(prisma, orgId, { hostId: other, to: start, limit: 100 })).toEqual([]);
    expect(await listJobAudit(prisma, orgId, { hostId: other, from: start, limit: 100 })).toHaveLength(3);
    // B sees none of A's rows.
    expect(await listJobAudit(prisma, world.orgB, { limit: 100 })).toEqual([]);
  });
});

describe('the due-jobs index', () => {
  it('serves delivery and the sweeper from the partial index of unfinished jobs, however long the history', async () => {
    // 50,000 finished jobs of one host, as years of history would leave.
    await sql(
      `INSERT INTO jobs (org_id, id, host_id, kind, params, state, requested_by, deadline)
       SELECT $1, 'job_history_' || n, $2, 'images.pruneDangling', '{}', 'succeeded', 'system', now()
       FROM generate_series(1, 50000) AS n`,
      [orgId, hostId],
    );
    await sql('ANALYZE jobs');
    const plan = async (query: string, values: unknown[]) =>
      (await sql<{ 'QUERY PLAN': string }>(`EXPLAIN ${query}`, values)).map((r) => r['QUERY PLAN']).join('\n');
    const delivery = await plan(
      `SELECT j.id FROM jobs j
       JOIN unnest($1::text[], $2::text[]) AS c(org_id, host_id) ON j.org_id = c.org_id AND j.host_id = c.host_id
       WHERE j.state IN ('requested', 'planning', 'approved', 'running', 'unknown')
         AND (j.last_delivered_at IS NULL OR greatest(j.last_delivered_at, j.updated_at) <= now())
       ORDER BY j.created_at, j.id LIMIT 200`,
      [[orgId], [hostId]],
    );
    expect(delivery).toContain('jobs_unfinished_idx');
    const sweep = await plan(
      `SELECT org_id, id, state FROM jobs
       WHERE state IN ('requested', 'planning', 'planned', 'approved') AND deadline < now()
       ORDER BY deadline LIMIT 200`,
      [],
    );
    expect(sweep).toContain('jobs_unfinished_idx');
  });
});
