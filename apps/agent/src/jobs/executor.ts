import type { ItemResult, JobPlan, JobResult } from '@ballast/shared';
import { act } from './actions.js';
import type { JobLedger, LedgerEntry } from './ledger.js';
import type { JobEnv } from './types.js';

export interface ProgressEvent {
  done: number;
  total: number;
  item: ItemResult | null;
}

export interface ExecuteHooks {
  onProgress?: (event: ProgressEvent) => void;
  /** Called after each object's outcome is stored; a throw here stops execution like a crash would. */
  afterItem?: (index: number) => void;
  /** Called after acting on an object, before its outcome is stored (a crash at the worst moment). */
  afterAction?: (index: number) => void;
  signal?: AbortSignal;
}

/**
 * Executes the plan stored in `entry` (already checked against the request), object by object
 * in plan order. Each outcome is written to the ledger before the next object is touched, so
 * an execution cut short resumes after the objects already handled and never acts twice.
 */
export async function executePlan(
  env: JobEnv,
  ledger: JobLedger,
  entry: LedgerEntry,
  hooks: ExecuteHooks = {},
): Promise<JobResult> {
  const plan: JobPlan = entry.plan;
  if (!entry.execution) {
    entry.execution = {
      startedAt: env.now().toISOString(),
      freeBytesBefore: await env.freeSpace(plan.kind, hooks.signal),
      engineReportedBytes: null,
      items: [],
      acting: null,
    };
    await ledger.put(entry);
  }
  const execution = entry.execution;
  const total = plan.items.length;
  hooks.onProgress?.({ done: execution.items.length, total, item: null });
  for (let index = execution.items.length; index < total; index += 1) {
    const item = plan.items[index];
    if (!item) break;
    const interrupted = execution.acting === item.id;
    execution.acting = item.id;
    await ledger.put(entry);
    let outcome: Awaited<ReturnType<typeof act>>;
    try {
      outcome = await act(env, plan, item, hooks.signal);
    } catch (err) {
      outcome = { outcome: 'failed', reason: err instanceof Error ? err.message : String(err) };
    }
    hooks.afterAction?.(index);
    // The previous run was acting on this object when it stopped, and the object is gone: its removal completed.
    if (interrupted && outcome.outcome === 'skipped' && outcome.gone) outcome = { outcome: 'done' };
    const result: ItemResult = {
      type: item.type,
      id: item.id,
      name: item.name,
      outcome: outcome.outcome,
      bytes: outcome.outcome === 'done' ? item.bytes : 0,
      ...(outcome.outcome === 'done' ? {} : { reason: outcome.reason.slice(0, 2048) }),
    };
    execution.items.push(result);
    execution.acting = null;
    if (outcome.outcome === 'done' && outcome.engineBytes !== undefined) {
      execution.engineReportedBytes = (execution.engineReportedBytes ?? 0) + outcome.engineBytes;
    }
    await ledger.put(entry);
    hooks.onProgress?.({ done: execution.items.length, total, item: result });
    hooks.afterItem?.(index);
  }
  const items = execution.items;
  const done = items.filter((i) => i.outcome === 'done').length;
  const failed = items.filter((i) => i.outcome === 'failed').length;
  const result: JobResult = {
    jobId: plan.jobId,
    // Skips are not failures (the object stayed, as the safety rules want), but the job did less than planned.
    status: done === total ? 'succeeded' : done === 0 && failed > 0 ? 'failed' : 'partial',
    startedAt: execution.startedAt,
    finishedAt: env.now().toISOString(),
    items,
    bytesFreed: items.reduce((sum, i) => sum + i.bytes, 0),
    engineReportedBytes: plan.kind === 'buildCache.prune' ? (execution.engineReportedBytes ?? 0) : null,
    freeBytesBefore: execution.freeBytesBefore,
    freeBytesAfter: await env.freeSpace(plan.kind, hooks.signal),
  };
  entry.result = result;
  await ledger.put(entry);
  return result;
}
