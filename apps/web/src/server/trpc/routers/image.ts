import type { TRPCRouterRecord } from '@trpc/server';
import { imagesAcrossFleet, ZImageFleetInput } from '../../services/fleet';
import { orgProcedure } from '../init';

export const imageRouter = {
  fleet: orgProcedure('viewer')
    .input(ZImageFleetInput)
    .query(({ ctx, input }) => imagesAcrossFleet(ctx.prisma, ctx.orgId, input)),
} satisfies TRPCRouterRecord;
