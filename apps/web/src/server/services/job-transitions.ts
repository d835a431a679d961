import type { DbClient, DbTransaction, Prisma } from '@ballast/db';
import { canTransition, type JobState } from '@ballast/shared/jobs';
import { recordAudit } from './audit';

/** Who moved a job when no person did: delivery, the sweeper, the agent's answers. */
export const SYSTEM_ACTOR = 'system';
/** The agent of a host, for changes its answers cause (a plan, a result, a refusal). */
export const agentActor = (hostId: string) => `agent:${hostId}`;
/** The organization's auto-approval policy. */
export const POLICY_ACTOR = 'policy:auto-approve';

export interface JobTransition {
  orgId: string;
  jobId: string;
  from: JobState;
  to: JobState;
  actor: string;
  /** Columns written with the state change. */
  data?: Omit<Prisma.JobUpdateManyMutationInput, 'state'>;
  /** Extra audit details (a reason, an error). */
  details?: Record<string, string | number | boolean | null>;
  now?: Date;
}

/** Thrown inside a transaction to roll back a chain of transitions when one step lost its race. */
export class StaleJobState extends Error {
  override name = 'StaleJobState';
}

const num = (value: bigint | null) => (value === null ? null : Number(value));

/**
 * Moves one job from `from` to `to` inside `tx`: a conditional UPDATE (… WHERE state = from),
 * so two server processes, a duplicated frame or a racing click can never apply a transition
 * twice, and an audit row in the same transaction. Returns false, writing nothing, when the
 * job is no longer in `from`.
 */
export async function transitionJob(tx: DbTransaction, t: JobTransition): Promise<boolean> {
  if (!canTransition(t.from, t.to)) throw new Error(`job transition ${t.from} -> ${t.to} is not allowed`);
  const now = t.now ?? new Date();
  const { count } = await tx.job.updateMany({
    where: { orgId: t.orgId, id: t.jobId, state: t.from },
    data: { ...t.data, state: t.to, updatedAt: now },
  });
  if (count === 0) return false;
  const job = await tx.job.findUniqueOrThrow({
    where: { orgId_id: { orgId: t.orgId, id: t.jobId } },
    select: {
      hostId: true,
      kind: true,
      campaignId: true,
      planDigest: true,
      plannedBytes: true,
      bytesFreed: true,
      host: { select: { hostname: true } },
    },
  });
  await recordAudit(tx, t.orgId, {
    actor: t.actor,
    action: `job.${t.to}`,
    target: t.jobId,
    details: {
      hostId: job.hostId,
      hostname: job.host.hostname,
      kind: job.kind,
      from: t.from,
      to: t.to,
      campaignId: job.campaignId,
      planDigest: job.planDigest,
      plannedBytes: num(job.plannedBytes),
      bytesFreed: num(job.bytesFreed),
      ...t.details,
    },
  });
  return true;
}

/** One transition in its own transaction. */
export function transitionJobNow(prisma: DbClient, t: JobTransition): Promise<boolean> {
  return prisma.$transaction((tx) => transitionJob(tx, t));
}

/**
 * Several transitions of one job that must happen together (approved → running → succeeded
 * when a result arrives without progress): all or none. Returns false when a step lost its race.
 */
export async function transitionJobChain(prisma: DbClient, steps: JobTransition[]): Promise<boolean> {
  try {
    return await prisma.$transaction(async (tx) => {
      for (const step of steps) {
        if (!(await transitionJob(tx, step))) throw new StaleJobState(`job ${step.jobId} is no longer ${step.from}`);
      }
      return true;
    });
  } catch (error) {
    if (error instanceof StaleJobState) return false;
    throw error;
  }
}
