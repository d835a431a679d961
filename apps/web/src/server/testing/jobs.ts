import { createHash } from 'node:crypto';
import { JOB_KINDS, type JobKind, type JobPlan, type JobResult, jobCapability, type PlanItem } from '@ballast/shared';

/** What an agent with every kind enabled announces in its hello. */
export const ALL_JOB_CAPABILITIES = ['jobs', ...JOB_KINDS.map(jobCapability)];

/** A well-formed plan as an agent would send it (the digest covers the rest, as the contract says). */
export function makePlan(
  jobId: string,
  kind: JobKind,
  items: PlanItem[],
  extra: Partial<Pick<JobPlan, 'skipped' | 'notes' | 'configChange' | 'params' | 'totalBytes'>> = {},
): JobPlan {
  const body = {
    jobId,
    kind,
    params: extra.params ?? {},
    plannedAt: '2026-11-23T10:00:00.000Z',
    engineId: 'ENGINE:TEST',
    items,
    skipped: extra.skipped ?? [],
    totalBytes: extra.totalBytes ?? items.reduce((sum, i) => sum + i.bytes, 0),
    notes: extra.notes ?? [],
    configChange: extra.configChange ?? null,
    freeBytes: 50_000_000_000,
  };
  return { ...body, digest: createHash('sha256').update(JSON.stringify(body)).digest('hex') };
}

export function imageItem(n: number, bytes: number): PlanItem {
  return { type: 'image', id: `sha256:${n.toString(16).padStart(64, '0')}`, name: `app:${n}`, bytes };
}

/** The result of executing every item of a plan. */
export function makeResult(plan: JobPlan, status: JobResult['status'] = 'succeeded'): JobResult {
  const items = plan.items.map((i, n) => ({
    type: i.type,
    id: i.id,
    name: i.name,
    outcome: status === 'partial' && n === 0 ? ('skipped' as const) : ('done' as const),
    bytes: status === 'partial' && n === 0 ? 0 : i.bytes,
    ...(status === 'partial' && n === 0 && { reason: 'a container started using it' }),
  }));
  const bytesFreed = items.reduce((sum, i) => sum + i.bytes, 0);
  return {
    jobId: plan.jobId,
    status,
    startedAt: '2026-11-23T10:01:00.000Z',
    finishedAt: '2026-11-23T10:01:05.000Z',
    items,
    bytesFreed,
    engineReportedBytes: bytesFreed,
    freeBytesBefore: 50_000_000_000,
    freeBytesAfter: 50_000_000_000 + bytesFreed,
  };
}
