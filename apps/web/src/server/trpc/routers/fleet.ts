import type { TRPCRouterRecord } from '@trpc/server';
import { fleetOverview } from '../../services/fleet';
import { orgProcedure } from '../init';

export const fleetRouter = {
  overview: orgProcedure('viewer').query(({ ctx }) => fleetOverview(ctx.prisma, ctx.orgId)),
} satisfies TRPCRouterRecord;
