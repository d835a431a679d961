import type { DbClient } from '@ballast/db';
import type { AgentMessage, JobPlan, JobResult, JobState } from '@ballast/shared';
import { JOB_KINDS, type JobKind, TERMINAL_JOB_STATES } from '@ballast/shared/jobs';
import type { Logger } from '../log';
import { agentActor, type JobTransition, POLICY_ACTOR, transitionJobChain } from './job-transitions';
import { EXECUTE_WINDOW_MS } from './jobs';

type JobFrame = Extract<AgentMessage, { type: 'job.planned' | 'job.progress' | 'job.result' | 'job.rejected' }>;

/** What applying an agent frame did, for logs, tests and live updates. */
export type FrameOutcome =
  | { applied: true; jobId: string; state: JobState }
  | { applied: false; jobId: string; reason: string };

const ignored = (jobId: string, reason: string): FrameOutcome => ({ applied: false, jobId, reason });

/** Why a plan cannot be the one this job asked for; null when it fits. */
export function planMismatch(job: { id: string; kind: string; params: unknown }, plan: JobPlan): string | null {
  if (plan.jobId !== job.id) return `the plan names job ${plan.jobId}, not ${job.id}`;
  if (plan.kind !== job.kind) return `the plan is for ${plan.kind}, the job is ${job.kind}`;
  const sum = plan.items.reduce((total, item) => total + item.bytes, 0);
  if (sum !== plan.totalBytes) return `the plan's total (${plan.totalBytes}) is not the sum of its items (${sum})`;
  if (job.kind === 'volumes.remove') {
    // Defence in depth: the agent enforces this too, but a plan naming any volume the operator
    // did not name must never reach approval.
    const named = new Set(
      Array.isArray((job.params as { volumes?: unknown })?.volumes)
        ? (job.params as { volumes: string[] }).volumes
        : [],
    );
    const extra = plan.items.filter((item) => item.type !== 'volume' || !named.has(item.id));
    if (extra.length > 0) return `the plan includes objects that were not named: ${extra.map((i) => i.id).join(', ')}`;
  }
  return null;
}

interface JobRow {
  id: string;
  kind: string;
  params: unknown;
  state: JobState;
}

async function findJob(prisma: DbClient, orgId: string, hostId: string, jobId: string): Promise<JobRow | null> {
  // Scoped by host: an agent can only ever answer for its own host's jobs.
  const job = await prisma.job.findFirst({
    where: { orgId, hostId, id: jobId },
    select: { id: true, kind: true, params: true, state: true },
  });
  return job && { ...job, state: job.state as JobState };
}

const bigint = (value: number) => BigInt(value);

/**
 * Applies one job frame from the agent of `hostId`. Every change is a conditional transition,
 * so duplicated, late or reordered frames find the job in another state and are ignored.
 */
export async function applyJobFrame(
  prisma: DbClient,
  orgId: string,
  hostId: string,
  frame: JobFrame,
  log: Logger,
  now = new Date(),
): Promise<FrameOutcome> {
  const job = await findJob(prisma, orgId, hostId, frame.jobId);
  if (!job) {
    log.warn('job frame for a job this host does not have', { hostId, jobId: frame.jobId, type: frame.type });
    return ignored(frame.jobId, 'no such job for this host');
  }
  if (TERMINAL_JOB_STATES.includes(job.state)) {
    log.info('late job frame for a finished job ignored', { jobId: job.id, state: job.state, type: frame.type });
    return ignored(job.id, `job is already ${job.state}`);
  }
  // Changes the agent's answers cause are the agent's, so the audit log says which host spoke.
  const base = { orgId, jobId: job.id, actor: agentActor(hostId), now };
  switch (frame.type) {
    case 'job.planned':
      return applyPlanned(prisma, orgId, job, frame.plan, base, log);
    case 'job.progress':
      return applyProgress(prisma, orgId, job, frame, base);
    case 'job.result':
      return applyResult(prisma, hostId, job, frame.result, base, log);
    case 'job.rejected':
      return applyRejected(prisma, job, frame, base, log);
  }
}

type Base = { orgId: string; jobId: string; actor: string; now: Date };

async function applyPlanned(
  prisma: DbClient,
  orgId: string,
  job: JobRow,
  plan: JobPlan,
  base: Base,
  log: Logger,
): Promise<FrameOutcome> {
  if (job.state !== 'requested' && job.state !== 'planning') {
    return ignored(job.id, `a plan for a ${job.state} job is a duplicate`);
  }
  const lead: JobTransition[] = job.state === 'requested' ? [{ ...base, from: 'requested', to: 'planning' }] : [];
  const mismatch = planMismatch(job, plan);
  if (mismatch) {
    log.warn('agent sent a plan that does not fit its job', { jobId: job.id, mismatch });
    const ok = await transitionJobChain(prisma, [
      ...lead,
      {
        ...base,
        from: 'planning',
        to: 'failed',
        data: { error: `plan refused: ${mismatch}`, finishedAt: base.now },
        details: { reason: mismatch },
      },
    ]);
    return ok ? { applied: true, jobId: job.id, state: 'failed' } : ignored(job.id, 'job changed meanwhile');
  }
  const org = await prisma.organization.findUnique({ where: { id: orgId }, select: { autoApproveJobKinds: true } });
  const autoApprove =
    job.kind !== 'volumes.remove' &&
    (org?.autoApproveJobKinds ?? []).includes(job.kind) &&
    JOB_KINDS.includes(job.kind as JobKind);
  const planned: JobTransition = {
    ...base,
    from: 'planning',
    to: 'planned',
    data: {
      plan: JSON.parse(JSON.stringify(plan)),
      planDigest: plan.digest,
      plannedBytes: bigint(plan.totalBytes),
      plannedAt: base.now,
      progressTotal: plan.items.length,
    },
    details: { items: plan.items.length, skipped: plan.skipped.length },
  };
  const steps = [...lead, planned];
  if (autoApprove) {
    steps.push({
      ...base,
      actor: POLICY_ACTOR,
      from: 'planned',
      to: 'approved',
      data: {
        approvedBy: POLICY_ACTOR,
        approvedAt: base.now,
        deadline: new Date(base.now.getTime() + EXECUTE_WINDOW_MS),
      },
    });
  }
  const ok = await transitionJobChain(prisma, steps);
  return ok
    ? { applied: true, jobId: job.id, state: autoApprove ? 'approved' : 'planned' }
    : ignored(job.id, 'job changed meanwhile');
}

async function applyProgress(
  prisma: DbClient,
  orgId: string,
  job: JobRow,
  frame: Extract<JobFrame, { type: 'job.progress' }>,
  base: Base,
): Promise<FrameOutcome> {
  if (job.state === 'approved') {
    await transitionJobChain(prisma, [{ ...base, from: 'approved', to: 'running', data: { startedAt: base.now } }]);
  } else if (job.state !== 'running') {
    return ignored(job.id, `progress for a ${job.state} job`);
  }
  // Progress is not a state change (no audit row); it only moves forward, so a reordered
  // older frame never rewinds the bar.
  const { count } = await prisma.job.updateMany({
    where: { orgId, id: job.id, state: 'running', progressDone: { lte: frame.done } },
    data: { progressDone: frame.done, progressTotal: frame.total, updatedAt: base.now },
  });
  return count > 0 ? { applied: true, jobId: job.id, state: 'running' } : ignored(job.id, 'older progress');
}

async function applyResult(
  prisma: DbClient,
  hostId: string,
  job: JobRow,
  result: JobResult,
  base: Base,
  log: Logger,
): Promise<FrameOutcome> {
  if (result.jobId !== job.id) {
    log.warn('agent sent a result naming another job', { jobId: job.id, resultJobId: result.jobId });
    return ignored(job.id, `the result names job ${result.jobId}`);
  }
  if (job.state !== 'approved' && job.state !== 'running' && job.state !== 'unknown') {
    log.warn('result for a job that was never approved ignored', { jobId: job.id, state: job.state });
    return ignored(job.id, `a result for a ${job.state} job`);
  }
  const finished: JobTransition = {
    ...base,
    from: job.state === 'unknown' ? 'unknown' : 'running',
    to: result.status,
    data: {
      result: JSON.parse(JSON.stringify(result)),
      bytesFreed: bigint(result.bytesFreed),
      engineReportedBytes: result.engineReportedBytes === null ? null : bigint(result.engineReportedBytes),
      freeBytesBefore: bigint(result.freeBytesBefore),
      freeBytesAfter: bigint(result.freeBytesAfter),
      progressDone: result.items.length,
      progressTotal: result.items.length,
      error: result.error ?? null,
      startedAt: new Date(result.startedAt),
      finishedAt: new Date(result.finishedAt),
    },
    details: {
      freeBytesBefore: result.freeBytesBefore,
      freeBytesAfter: result.freeBytesAfter,
      engineReportedBytes: result.engineReportedBytes,
      ...(result.error && { error: result.error }),
    },
  };
  const steps: JobTransition[] =
    job.state === 'approved'
      ? [{ ...base, from: 'approved', to: 'running', data: { startedAt: new Date(result.startedAt) } }, finished]
      : [finished];
  const ok = await transitionJobChain(prisma, steps);
  if (!ok) return ignored(job.id, 'job changed meanwhile');
  // What the job removed must leave the host's opportunities at its next reading, not after
  // the refresh interval.
  await prisma.hostInventory.updateMany({
    where: { orgId: base.orgId, hostId },
    data: { opportunitiesAt: null },
  });
  return { applied: true, jobId: job.id, state: result.status };
}

async function applyRejected(
  prisma: DbClient,
  job: JobRow,
  frame: Extract<JobFrame, { type: 'job.rejected' }>,
  base: Base,
  log: Logger,
): Promise<FrameOutcome> {
  const reason = `${frame.code}: ${frame.message}`;
  // Busy is transient (another remediation runs on the host): the job stays and is re-sent.
  if (frame.code === 'busy') {
    log.info('agent is busy; the job will be re-sent', { jobId: job.id, state: job.state });
    return ignored(job.id, 'agent busy');
  }
  const planPhase = job.state === 'requested' || job.state === 'planning';
  const executePhase = job.state === 'approved' || job.state === 'running' || job.state === 'unknown';
  if ((frame.phase === 'plan' && !planPhase) || (frame.phase === 'execute' && !executePhase)) {
    return ignored(job.id, `a ${frame.phase} rejection for a ${job.state} job`);
  }
  const lead: JobTransition[] = job.state === 'requested' ? [{ ...base, from: 'requested', to: 'planning' }] : [];
  const from: JobState = job.state === 'requested' ? 'planning' : job.state;
  // The agent's own deadline check: expired where the state machine allows it, else failed.
  const to: JobState = frame.code === 'expired' && from !== 'running' && from !== 'unknown' ? 'expired' : 'failed';
  const ok = await transitionJobChain(prisma, [
    ...lead,
    {
      ...base,
      from,
      to,
      data: { error: `agent refused: ${reason}`, finishedAt: base.now },
      details: { reason, code: frame.code },
    },
  ]);
  return ok ? { applied: true, jobId: job.id, state: to } : ignored(job.id, 'job changed meanwhile');
}
