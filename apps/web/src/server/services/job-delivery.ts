import type { DbClient } from '@ballast/db';
import { type JobState, PROTOCOL_VERSION, type ServerMessage, ZJobPlan } from '@ballast/shared';
import { SYSTEM_ACTOR, transitionJobChain } from './job-transitions';

/** How many due jobs one poll hands out at most; the rest wait for the next poll. */
const BATCH = 200;

export interface ConnectedHost {
  orgId: string;
  hostId: string;
}

export interface DueJob {
  orgId: string;
  id: string;
  hostId: string;
  kind: string;
  params: unknown;
  state: JobState;
  plan: unknown;
  deadline: Date;
}

/**
 * Jobs of the given hosts the agent still owes an answer for (requested, planning, approved,
 * running, unknown) that are due: never sent, or sent longer ago than the
 * cutoff with no word from the agent since (progress refreshes updated_at). Served by the
 * partial index of unfinished jobs, whatever the length of the history.
 */
export async function findDueJobs(prisma: DbClient, hosts: ConnectedHost[], cutoff: Date): Promise<DueJob[]> {
  if (hosts.length === 0) return [];
  const rows = await prisma.$queryRaw<
    {
      org_id: string;
      id: string;
      host_id: string;
      kind: string;
      params: unknown;
      state: string;
      plan: unknown;
      deadline: Date;
    }[]
  >`
    SELECT j.org_id, j.id, j.host_id, j.kind, j.params, j.state, j.plan, j.deadline
    FROM jobs j
    JOIN unnest(${hosts.map((h) => h.orgId)}::text[], ${hosts.map((h) => h.hostId)}::text[]) AS c(org_id, host_id)
      ON j.org_id = c.org_id AND j.host_id = c.host_id
    WHERE j.state IN ('requested', 'planning', 'approved', 'running', 'unknown')
      AND (j.last_delivered_at IS NULL OR greatest(j.last_delivered_at, j.updated_at) <= ${cutoff})
    ORDER BY j.created_at, j.id
    LIMIT ${BATCH}`;
  return rows.map((r) => ({
    orgId: r.org_id,
    id: r.id,
    hostId: r.host_id,
    kind: r.kind,
    params: r.params,
    state: r.state as JobState,
    plan: r.plan,
    deadline: r.deadline,
  }));
}

/**
 * Prepares the frame for one due job and records the delivery, conditionally on the state the
 * job was read in: requested → planning and approved → running are transitions (with audit
 * rows); re-sends only bump the delivery count. Returns null when another process or a frame
 * moved the job first, or when the host already runs another job (one at a time per host).
 */
export async function claimDelivery(prisma: DbClient, job: DueJob, now = new Date()): Promise<ServerMessage | null> {
  const delivered = { lastDeliveredAt: now, deliveries: { increment: 1 } };
  const base = { orgId: job.orgId, jobId: job.id, actor: SYSTEM_ACTOR, now };
  if (job.state === 'requested' || job.state === 'planning') {
    if (job.state === 'requested') {
      if (!(await transitionJobChain(prisma, [{ ...base, from: 'requested', to: 'planning', data: delivered }])))
        return null;
    } else {
      const { count } = await prisma.job.updateMany({
        where: { orgId: job.orgId, id: job.id, state: 'planning' },
        data: delivered,
      });
      if (count === 0) return null;
    }
    return {
      v: PROTOCOL_VERSION,
      type: 'job.plan',
      jobId: job.id,
      kind: ZJobPlan.shape.kind.parse(job.kind),
      params: (job.params ?? {}) as Record<string, unknown>,
      deadline: job.deadline.toISOString(),
    };
  }
  const plan = ZJobPlan.safeParse(job.plan);
  if (!plan.success) return null;
  if (job.state === 'approved') {
    const busy = await prisma.job.count({
      where: { orgId: job.orgId, hostId: job.hostId, state: { in: ['running', 'unknown'] }, id: { not: job.id } },
    });
    if (busy > 0) return null;
    const started = await transitionJobChain(prisma, [
      { ...base, from: 'approved', to: 'running', data: { ...delivered, startedAt: now } },
    ]);
    if (!started) return null;
  } else {
    const { count } = await prisma.job.updateMany({
      where: { orgId: job.orgId, id: job.id, state: job.state },
      data: delivered,
    });
    if (count === 0) return null;
  }
  return {
    v: PROTOCOL_VERSION,
    type: 'job.execute',
    jobId: job.id,
    plan: plan.data,
    deadline: job.deadline.toISOString(),
  };
}

export interface SweepOptions {
  /** A running job whose host has not been heard from for this long becomes unknown. */
  silentAfterMs: number;
}

/**
 * Expires jobs whose deadline passed before they ran, and marks running jobs of hosts gone
 * silent as unknown. Safe to run in every server process at once: each change is conditional.
 */
export async function sweepJobs(
  prisma: DbClient,
  options: SweepOptions,
  now = new Date(),
): Promise<{ expired: string[]; unknown: string[] }> {
  const overdue = await prisma.$queryRaw<{ org_id: string; id: string; state: string }[]>`
    SELECT org_id, id, state FROM jobs
    WHERE state IN ('requested', 'planning', 'planned', 'approved') AND deadline < ${now}
    ORDER BY deadline LIMIT ${BATCH}`;
  const expired: string[] = [];
  for (const job of overdue) {
    const ok = await transitionJobChain(prisma, [
      {
        orgId: job.org_id,
        jobId: job.id,
        from: job.state as JobState,
        to: 'expired',
        actor: SYSTEM_ACTOR,
        now,
        data: { error: `deadline passed while ${job.state}`, finishedAt: now },
        details: { reason: `deadline passed while ${job.state}` },
      },
    ]);
    if (ok) expired.push(job.id);
  }
  const silentSince = new Date(now.getTime() - options.silentAfterMs);
  const silent = await prisma.$queryRaw<{ org_id: string; id: string }[]>`
    SELECT j.org_id, j.id FROM jobs j
    JOIN hosts h ON h.org_id = j.org_id AND h.id = j.host_id
    WHERE j.state = 'running' AND j.updated_at < ${silentSince}
      AND h.last_seen_at < ${silentSince}
    ORDER BY j.updated_at LIMIT ${BATCH}`;
  const unknown: string[] = [];
  for (const job of silent) {
    const ok = await transitionJobChain(prisma, [
      {
        orgId: job.org_id,
        jobId: job.id,
        from: 'running',
        to: 'unknown',
        actor: SYSTEM_ACTOR,
        now,
        details: { reason: `agent silent for more than ${Math.round(options.silentAfterMs / 1000)} s while running` },
      },
    ]);
    if (ok) unknown.push(job.id);
  }
  return { expired, unknown };
}
