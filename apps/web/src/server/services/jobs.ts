import type { DbClient, Prisma } from '@ballast/db';
import { newId } from '@ballast/db/ids';
import {
  JOB_KIND_LABELS,
  JOB_KINDS,
  JOB_STATES,
  type JobKind,
  type JobSpec,
  type JobState,
  jobCapability,
  parseJobSpec,
  ZJobPlan,
  ZJobResult,
} from '@ballast/shared/jobs';
import { OPPORTUNITY_KINDS } from '@ballast/shared/savings/kinds';
import { z } from 'zod';
import { assertCanApprove } from '../auth/approval';
import { AppError } from '../errors';
import type { OrgCaller } from '../trpc/init';
import { actorNames, recordAudit } from './audit';
import { transitionJob } from './job-transitions';

/** How long a job waits for its agent (to plan, then for approval) before it expires. */
export const DEFAULT_JOB_TTL_MINUTES = 24 * 60;
/** After approval, the agent must start within this window, else the job expires. */
export const EXECUTE_WINDOW_MS = 60 * 60_000;
/** The capability an agent announces when it takes jobs at all. */
export const JOBS_CAPABILITY = 'jobs';

const num = (value: bigint | null): number | null => (value === null ? null : Number(value));

export type JobCaller = Pick<OrgCaller, 'orgId' | 'actor' | 'actingUserId' | 'role' | 'requireTwoPersonApproval'>;

const ZTtl = z
  .number()
  .int()
  .min(1)
  .max(14 * 24 * 60);

export const ZJobCreateInput = z.object({
  hostId: z.string().min(1).max(64),
  kind: z.enum(JOB_KINDS),
  params: z.record(z.string(), z.unknown()).default({}),
  ttlMinutes: ZTtl.optional(),
});

/** A job from a stored opportunity's action; volumes need the volumes picked one by one. */
export const ZJobFromOpportunityInput = z.object({
  hostId: z.string().min(1).max(64),
  opportunityKind: z.enum(OPPORTUNITY_KINDS),
  /** For `volumes.unused` only: the volumes to remove, each one a volume the opportunity lists. */
  volumes: z.array(z.string().min(1).max(255)).max(100).optional(),
  ttlMinutes: ZTtl.optional(),
});

export const ZCampaignCreateInput = z.object({
  hostIds: z.array(z.string().min(1).max(64)).min(1).max(500),
  kind: z.enum(JOB_KINDS),
  params: z.record(z.string(), z.unknown()).default({}),
  ttlMinutes: ZTtl.optional(),
});

/** Approving volume removal asks the operator to type `remove N volumes`, N being the plan's count. */
export function volumeConfirmationPhrase(count: number): string {
  return `remove ${count} volume${count === 1 ? '' : 's'}`;
}

function validSpec(kind: string, params: unknown): JobSpec {
  const parsed = parseJobSpec(kind, params);
  if (!parsed.ok) throw new AppError('BAD_REQUEST', parsed.message);
  return parsed.spec;
}

interface HostForJobs {
  id: string;
  hostname: string;
  capabilities: string[];
}

/** Refuses hosts whose agent did not announce it takes jobs of this kind, naming each one. */
async function hostsAcceptingKind(
  prisma: DbClient,
  orgId: string,
  hostIds: string[],
  kind: JobKind,
): Promise<HostForJobs[]> {
  const unique = [...new Set(hostIds)];
  const hosts = await prisma.host.findMany({
    where: { orgId, id: { in: unique } },
    select: { id: true, hostname: true, capabilities: true },
  });
  const missing = unique.filter((id) => !hosts.some((h) => h.id === id));
  if (missing.length > 0)
    throw new AppError('NOT_FOUND', `no such host (${missing.length} of ${unique.length} not found)`);
  const capability = jobCapability(kind);
  const refusing = hosts.filter(
    (h) => !h.capabilities.includes(JOBS_CAPABILITY) || !h.capabilities.includes(capability),
  );
  if (refusing.length > 0) {
    const names = refusing.map((h) => h.hostname).join(', ');
    throw new AppError(
      'BAD_REQUEST',
      `${names}: the agent does not accept ${kind} jobs (it did not announce "${capability}"; remediation may be disabled in its config, or the agent is too old)`,
    );
  }
  return hosts;
}

async function insertJobs(
  prisma: DbClient,
  caller: JobCaller,
  hosts: HostForJobs[],
  spec: JobSpec,
  options: { ttlMinutes?: number | undefined; campaignId?: string; opportunityKind?: string; now?: Date },
): Promise<string[]> {
  const now = options.now ?? new Date();
  const deadline = new Date(now.getTime() + (options.ttlMinutes ?? DEFAULT_JOB_TTL_MINUTES) * 60_000);
  return prisma.$transaction(async (tx) => {
    if (options.campaignId) {
      await tx.campaign.create({
        data: {
          orgId: caller.orgId,
          id: options.campaignId,
          kind: spec.kind,
          params: spec.params,
          requestedBy: caller.actor,
          createdAt: now,
        },
        select: { id: true },
      });
      await recordAudit(tx, caller.orgId, {
        actor: caller.actor,
        action: 'campaign.created',
        target: options.campaignId,
        details: { kind: spec.kind, hosts: hosts.length },
      });
    }
    const ids: string[] = [];
    for (const host of hosts) {
      const id = newId('job');
      await tx.job.create({
        data: {
          orgId: caller.orgId,
          id,
          hostId: host.id,
          kind: spec.kind,
          params: spec.params,
          state: 'requested',
          requestedBy: caller.actor,
          requestedByUserId: caller.actingUserId,
          campaignId: options.campaignId ?? null,
          opportunityKind: options.opportunityKind ?? null,
          deadline,
          createdAt: now,
          updatedAt: now,
        },
        select: { id: true },
      });
      await recordAudit(tx, caller.orgId, {
        actor: caller.actor,
        action: 'job.requested',
        target: id,
        details: {
          hostId: host.id,
          hostname: host.hostname,
          kind: spec.kind,
          to: 'requested',
          campaignId: options.campaignId ?? null,
          deadline: deadline.toISOString(),
        },
      });
      ids.push(id);
    }
    return ids;
  });
}

export async function createJob(
  prisma: DbClient,
  caller: JobCaller,
  input: z.infer<typeof ZJobCreateInput>,
  now?: Date,
): Promise<{ id: string }> {
  const spec = validSpec(input.kind, input.params);
  const hosts = await hostsAcceptingKind(prisma, caller.orgId, [input.hostId], spec.kind);
  const [id] = await insertJobs(prisma, caller, hosts, spec, { ttlMinutes: input.ttlMinutes, ...(now && { now }) });
  if (!id) throw new Error('job was not created');
  return { id };
}

/** The job an opportunity's action describes, on that opportunity's host. */
export async function createJobFromOpportunity(
  prisma: DbClient,
  caller: JobCaller,
  input: z.infer<typeof ZJobFromOpportunityInput>,
): Promise<{ id: string }> {
  const opportunity = await prisma.hostOpportunity.findUnique({
    where: { orgId_hostId_kind: { orgId: caller.orgId, hostId: input.hostId, kind: input.opportunityKind } },
    select: { action: true, objects: true },
  });
  if (!opportunity) throw new AppError('NOT_FOUND', 'this host has no such opportunity (any more)');
  let spec: JobSpec;
  if (input.opportunityKind === 'volumes.unused') {
    // Never a default action: each volume is named by the operator, and only volumes the
    // opportunity lists (unused by any container at the last snapshot) can be named.
    const listed = new Set(
      z
        .array(z.object({ id: z.string() }))
        .catch([])
        .parse(opportunity.objects)
        .map((o) => o.id),
    );
    const volumes = input.volumes ?? [];
    if (volumes.length === 0) throw new AppError('BAD_REQUEST', 'name the volumes to remove, one by one');
    const unlisted = volumes.filter((v) => !listed.has(v));
    if (unlisted.length > 0) {
      throw new AppError('BAD_REQUEST', `not an unused volume of this host: ${unlisted.join(', ')}`);
    }
    spec = validSpec('volumes.remove', { volumes: [...new Set(volumes)], confirmDataLoss: true });
  } else {
    if (input.volumes !== undefined) throw new AppError('BAD_REQUEST', 'volumes can only be named for unused volumes');
    const action = z
      .object({ kind: z.string(), params: z.record(z.string(), z.unknown()) })
      .nullable()
      .catch(null)
      .parse(opportunity.action);
    if (!action) throw new AppError('BAD_REQUEST', 'this opportunity has no action to plan');
    spec = validSpec(action.kind, action.params);
  }
  const hosts = await hostsAcceptingKind(prisma, caller.orgId, [input.hostId], spec.kind);
  const [id] = await insertJobs(prisma, caller, hosts, spec, {
    ttlMinutes: input.ttlMinutes,
    opportunityKind: input.opportunityKind,
  });
  if (!id) throw new Error('job was not created');
  return { id };
}

export async function createCampaign(
  prisma: DbClient,
  caller: JobCaller,
  input: z.infer<typeof ZCampaignCreateInput>,
): Promise<{ id: string; jobIds: string[] }> {
  const spec = validSpec(input.kind, input.params);
  const hosts = await hostsAcceptingKind(prisma, caller.orgId, input.hostIds, spec.kind);
  const id = newId('cmp');
  const jobIds = await insertJobs(prisma, caller, hosts, spec, { ttlMinutes: input.ttlMinutes, campaignId: id });
  return { id, jobIds };
}

/** Items of a stored plan, for counting volumes in the confirmation phrase. */
function planItemCount(plan: Prisma.JsonValue | null): number {
  const parsed = ZJobPlan.safeParse(plan);
  return parsed.success ? parsed.data.items.length : 0;
}

async function approveOne(
  prisma: DbClient,
  caller: JobCaller,
  job: { id: string; kind: string; plan: Prisma.JsonValue | null; requestedByUserId: string | null },
  now: Date,
): Promise<boolean> {
  assertCanApprove(caller, job.requestedByUserId ?? '');
  return prisma.$transaction((tx) =>
    transitionJob(tx, {
      orgId: caller.orgId,
      jobId: job.id,
      from: 'planned',
      to: 'approved',
      actor: caller.actor,
      data: { approvedBy: caller.actor, approvedAt: now, deadline: new Date(now.getTime() + EXECUTE_WINDOW_MS) },
      now,
    }),
  );
}

export const ZJobApproveInput = z.object({
  id: z.string().min(1).max(64),
  /** For volumes.remove: the typed phrase `remove N volumes`. */
  confirmation: z.string().max(200).optional(),
});

function checkVolumeConfirmation(kind: string, count: number, confirmation: string | undefined) {
  if (kind !== 'volumes.remove') return;
  const phrase = volumeConfirmationPhrase(count);
  if (confirmation?.trim() !== phrase) {
    throw new AppError('BAD_REQUEST', `removing volumes destroys their data: type "${phrase}" to approve`);
  }
}

export async function approveJob(
  prisma: DbClient,
  caller: JobCaller,
  input: z.infer<typeof ZJobApproveInput>,
  now = new Date(),
): Promise<{ id: string; state: JobState }> {
  const job = await prisma.job.findUnique({
    where: { orgId_id: { orgId: caller.orgId, id: input.id } },
    select: { id: true, kind: true, state: true, plan: true, requestedByUserId: true },
  });
  if (!job) throw new AppError('NOT_FOUND', 'no such job');
  if (job.state !== 'planned')
    throw new AppError('CONFLICT', `only a planned job can be approved; this one is ${job.state}`);
  checkVolumeConfirmation(job.kind, planItemCount(job.plan), input.confirmation);
  if (!(await approveOne(prisma, caller, job, now))) {
    throw new AppError('CONFLICT', 'the job changed meanwhile (approved, cancelled or expired by someone else)');
  }
  return { id: job.id, state: 'approved' };
}

export const ZCampaignApproveInput = z.object({
  id: z.string().min(1).max(64),
  confirmation: z.string().max(200).optional(),
});

/** Approves every planned job of a campaign; jobs still waiting for their plan are left as they are. */
export async function approveCampaign(
  prisma: DbClient,
  caller: JobCaller,
  input: z.infer<typeof ZCampaignApproveInput>,
  now = new Date(),
): Promise<{ approved: number; waiting: number }> {
  const campaign = await prisma.campaign.findUnique({
    where: { orgId_id: { orgId: caller.orgId, id: input.id } },
    select: {
      kind: true,
      jobs: { select: { id: true, kind: true, state: true, plan: true, requestedByUserId: true } },
    },
  });
  if (!campaign) throw new AppError('NOT_FOUND', 'no such campaign');
  const planned = campaign.jobs.filter((j) => j.state === 'planned');
  if (planned.length === 0) throw new AppError('CONFLICT', 'no job of this campaign is waiting for approval');
  checkVolumeConfirmation(
    campaign.kind,
    planned.reduce((sum, j) => sum + planItemCount(j.plan), 0),
    input.confirmation,
  );
  let approved = 0;
  for (const job of planned) if (await approveOne(prisma, caller, job, now)) approved += 1;
  const waiting = campaign.jobs.filter((j) => j.state === 'requested' || j.state === 'planning').length;
  return { approved, waiting };
}

const CANCELLABLE: readonly JobState[] = ['requested', 'planning', 'planned', 'approved'];

export async function cancelJob(
  prisma: DbClient,
  caller: JobCaller,
  id: string,
): Promise<{ id: string; state: JobState }> {
  const job = await prisma.job.findUnique({
    where: { orgId_id: { orgId: caller.orgId, id } },
    select: { state: true },
  });
  if (!job) throw new AppError('NOT_FOUND', 'no such job');
  const from = job.state as JobState;
  if (!CANCELLABLE.includes(from)) {
    throw new AppError('CONFLICT', `a ${from} job can no longer be cancelled (only before it runs)`);
  }
  const done = await prisma.$transaction((tx) =>
    transitionJob(tx, { orgId: caller.orgId, jobId: id, from, to: 'cancelled', actor: caller.actor }),
  );
  if (!done) throw new AppError('CONFLICT', 'the job changed meanwhile; reload it');
  return { id, state: 'cancelled' };
}

export const ZJobListInput = z
  .object({
    hostId: z.string().min(1).max(64).optional(),
    kind: z.enum(JOB_KINDS).optional(),
    state: z.enum(JOB_STATES).optional(),
    campaignId: z.string().min(1).max(64).optional(),
    limit: z.number().int().min(1).max(1000).default(200),
  })
  .default({ limit: 200 });
export type JobListInput = z.infer<typeof ZJobListInput>;

const jobSummarySelect = {
  id: true,
  hostId: true,
  kind: true,
  state: true,
  planDigest: true,
  plannedBytes: true,
  bytesFreed: true,
  freeBytesBefore: true,
  freeBytesAfter: true,
  engineReportedBytes: true,
  requestedBy: true,
  approvedBy: true,
  campaignId: true,
  opportunityKind: true,
  deadline: true,
  progressDone: true,
  progressTotal: true,
  error: true,
  createdAt: true,
  updatedAt: true,
  finishedAt: true,
  host: { select: { hostname: true, connected: true } },
} as const satisfies Prisma.JobSelect;

type JobSummaryRow = Prisma.JobGetPayload<{ select: typeof jobSummarySelect }>;

function toSummary(row: JobSummaryRow) {
  const { host, plannedBytes, bytesFreed, freeBytesBefore, freeBytesAfter, engineReportedBytes, ...rest } = row;
  return {
    ...rest,
    kind: rest.kind as JobKind,
    kindLabel: JOB_KIND_LABELS[rest.kind as JobKind] ?? rest.kind,
    state: rest.state as JobState,
    hostname: host.hostname,
    hostConnected: host.connected,
    plannedBytes: num(plannedBytes),
    bytesFreed: num(bytesFreed),
    freeBytesBefore: num(freeBytesBefore),
    freeBytesAfter: num(freeBytesAfter),
    engineReportedBytes: num(engineReportedBytes),
  };
}
export type JobSummary = ReturnType<typeof toSummary>;

export async function listJobs(prisma: DbClient, orgId: string, input: JobListInput): Promise<JobSummary[]> {
  const rows = await prisma.job.findMany({
    where: {
      orgId,
      ...(input.hostId && { hostId: input.hostId }),
      ...(input.kind && { kind: input.kind }),
      ...(input.state && { state: input.state }),
      ...(input.campaignId && { campaignId: input.campaignId }),
    },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: input.limit,
    select: jobSummarySelect,
  });
  return rows.map(toSummary);
}

/** One job with its plan (items, skips, notes, config change) and per-object results. */
export async function getJob(prisma: DbClient, orgId: string, id: string) {
  const row = await prisma.job.findUnique({
    where: { orgId_id: { orgId, id } },
    select: {
      ...jobSummarySelect,
      params: true,
      plan: true,
      result: true,
      plannedAt: true,
      approvedAt: true,
      startedAt: true,
    },
  });
  if (!row) throw new AppError('NOT_FOUND', 'no such job');
  const { params, plan, result, plannedAt, approvedAt, startedAt, ...summary } = row;
  const parsedPlan = plan === null ? null : ZJobPlan.safeParse(plan);
  const parsedResult = result === null ? null : ZJobResult.safeParse(result);
  const volumeCount = summary.kind === 'volumes.remove' && parsedPlan?.success ? parsedPlan.data.items.length : null;
  const names = await actorNames(prisma, orgId, [
    summary.requestedBy,
    ...(summary.approvedBy ? [summary.approvedBy] : []),
  ]);
  return {
    requestedByName: names.get(summary.requestedBy) ?? summary.requestedBy,
    approvedByName: summary.approvedBy ? (names.get(summary.approvedBy) ?? summary.approvedBy) : null,
    ...toSummary(summary),
    params: z.record(z.string(), z.unknown()).catch({}).parse(params),
    plan: parsedPlan?.success ? parsedPlan.data : null,
    result: parsedResult?.success ? parsedResult.data : null,
    plannedAt,
    approvedAt,
    startedAt,
    /** What approval asks the operator to type, for volume removal. */
    confirmationPhrase: volumeCount === null ? null : volumeConfirmationPhrase(volumeCount),
  };
}
export type JobDetail = Awaited<ReturnType<typeof getJob>>;

/** Campaigns with the status of each host's job. */
export async function listCampaigns(prisma: DbClient, orgId: string, limit = 50) {
  const rows = await prisma.campaign.findMany({
    where: { orgId },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: limit,
    select: {
      id: true,
      kind: true,
      requestedBy: true,
      createdAt: true,
      jobs: { orderBy: { id: 'asc' }, select: jobSummarySelect },
    },
  });
  return rows.map((row) => {
    const jobs = row.jobs.map(toSummary);
    const byState: Partial<Record<JobState, number>> = {};
    for (const job of jobs) byState[job.state] = (byState[job.state] ?? 0) + 1;
    return {
      id: row.id,
      kind: row.kind as JobKind,
      kindLabel: JOB_KIND_LABELS[row.kind as JobKind] ?? row.kind,
      requestedBy: row.requestedBy,
      createdAt: row.createdAt,
      jobs,
      byState,
      plannedBytes: jobs.reduce((sum, j) => sum + (j.plannedBytes ?? 0), 0),
      bytesFreed: jobs.reduce((sum, j) => sum + (j.bytesFreed ?? 0), 0),
    };
  });
}

/** Job kinds approved as soon as their plan arrives. volumes.remove can never be one. */
export const ZAutoApproveKinds = z
  .array(z.enum(JOB_KINDS))
  .max(JOB_KINDS.length)
  .refine((kinds) => !kinds.includes('volumes.remove'), 'volumes.remove is never approved automatically');

export async function getJobPolicy(prisma: DbClient, orgId: string) {
  const org = await prisma.organization.findUnique({ where: { id: orgId }, select: { autoApproveJobKinds: true } });
  if (!org) throw new AppError('NOT_FOUND', 'organization not found');
  return {
    autoApproveKinds: org.autoApproveJobKinds.filter((k): k is JobKind => (JOB_KINDS as readonly string[]).includes(k)),
  };
}

export async function updateJobPolicy(
  prisma: DbClient,
  orgId: string,
  actor: string,
  input: { autoApproveKinds: JobKind[] },
) {
  const kinds = ZAutoApproveKinds.parse(input.autoApproveKinds);
  await prisma.$transaction(async (tx) => {
    await tx.organization.update({ where: { id: orgId }, data: { autoApproveJobKinds: kinds }, select: { id: true } });
    await recordAudit(tx, orgId, {
      actor,
      action: 'jobs.policy_updated',
      target: orgId,
      details: { autoApproveKinds: kinds.join(',') },
    });
  });
  return { autoApproveKinds: kinds };
}
