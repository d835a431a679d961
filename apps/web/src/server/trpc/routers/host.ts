import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { hostDetail } from '../../services/host-detail';
import { listHosts } from '../../services/hosts';
import { orgProcedure } from '../init';

export const hostRouter = {
  list: orgProcedure('viewer').query(({ ctx }) => listHosts(ctx.prisma, ctx.orgId)),

  detail: orgProcedure('viewer')
    .input(z.object({ id: z.string().min(1).max(64) }))
    .query(({ ctx, input }) => hostDetail(ctx.prisma, ctx.orgId, input.id)),

  /** Emits whenever a host of the caller's organization changes; clients refetch. */
  changes: orgProcedure('viewer').subscription(async function* ({ ctx, signal }) {
    for await (const change of ctx.events.stream(signal)) {
      if (change.orgId === ctx.orgId) yield { hostId: change.hostId, reason: change.reason, jobId: change.jobId };
    }
  }),
} satisfies TRPCRouterRecord;
