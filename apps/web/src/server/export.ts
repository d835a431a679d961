import { TRPCError } from '@trpc/server';
import type { z } from 'zod';
import { toCsv } from './csv';
import { ZAuditListInput } from './services/audit';
import { ZJobListInput } from './services/jobs';
import type { TrpcContext } from './trpc/init';
import { createCallerFactory } from './trpc/init';
import { appRouter } from './trpc/root';

const createCaller = createCallerFactory(appRouter);
/** Rows one export holds at most; narrow the filters for more. */
export const EXPORT_LIMIT = 10_000;

const optional = (params: URLSearchParams, name: string) => params.get(name) || undefined;

/** Query-string filters, validated by the procedure's own schema, with a readable 400. */
function filters<T extends z.ZodType>(schema: T, value: Record<string, unknown>): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new TRPCError({
    code: 'BAD_REQUEST',
    message: `${issue?.path.join('.') ?? 'filter'}: ${issue?.message ?? 'invalid'}`,
  });
}

/**
 * The CSV exports behind /api/export/<file>. They go through the same tRPC procedures as the
 * pages (so the same roles and tenant scoping apply); the filters are the query string's.
 */
export async function exportCsv(
  ctx: TrpcContext,
  file: string,
  params: URLSearchParams,
): Promise<{ filename: string; body: string } | null> {
  const caller = createCaller(ctx);
  if (file === 'audit.csv') {
    const rows = await caller.job.audit(
      filters(ZAuditListInput, {
        actor: optional(params, 'actor'),
        hostId: optional(params, 'hostId'),
        kind: optional(params, 'kind'),
        from: optional(params, 'from'),
        to: optional(params, 'to'),
        limit: EXPORT_LIMIT,
      }),
    );
    return {
      filename: 'ballast-audit.csv',
      body: toCsv(
        [
          'at',
          'actor',
          'actor_name',
          'action',
          'job',
          'host_id',
          'hostname',
          'kind',
          'from',
          'to',
          'plan_digest',
          'planned_bytes',
          'bytes_freed',
          'details',
        ],
        rows.map((r) => [
          r.at,
          r.actor,
          r.actorName,
          r.action,
          r.target,
          r.details.hostId,
          r.details.hostname,
          r.details.kind,
          r.details.from,
          r.details.to,
          r.details.planDigest,
          r.details.plannedBytes,
          r.details.bytesFreed,
          JSON.stringify(r.details),
        ]),
      ),
    };
  }
  if (file === 'jobs.csv') {
    const rows = await caller.job.list(
      filters(ZJobListInput, {
        hostId: optional(params, 'hostId'),
        kind: optional(params, 'kind'),
        state: optional(params, 'state'),
        campaignId: optional(params, 'campaignId'),
        limit: 1000,
      }),
    );
    return {
      filename: 'ballast-jobs.csv',
      body: toCsv(
        [
          'id',
          'created_at',
          'host_id',
          'hostname',
          'kind',
          'state',
          'campaign_id',
          'requested_by',
          'approved_by',
          'plan_digest',
          'planned_bytes',
          'bytes_freed',
          'engine_reported_bytes',
          'free_bytes_before',
          'free_bytes_after',
          'finished_at',
          'error',
        ],
        rows.map((j) => [
          j.id,
          j.createdAt,
          j.hostId,
          j.hostname,
          j.kind,
          j.state,
          j.campaignId,
          j.requestedBy,
          j.approvedBy,
          j.planDigest,
          j.plannedBytes,
          j.bytesFreed,
          j.engineReportedBytes,
          j.freeBytesBefore,
          j.freeBytesAfter,
          j.finishedAt,
          j.error,
        ]),
      ),
    };
  }
  return null;
}
