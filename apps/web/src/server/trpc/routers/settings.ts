import { ZSavingsPolicy } from '@ballast/shared/savings/policy';
import type { TRPCRouterRecord } from '@trpc/server';
import { getSavingsPolicy, updateSavingsPolicy } from '../../services/savings-policy';
import { orgProcedure } from '../init';

export const settingsRouter = {
  policy: {
    // Admin only: protected patterns and labels describe what the organization guards.
    get: orgProcedure('admin').query(({ ctx }) => getSavingsPolicy(ctx.prisma, ctx.orgId)),
    update: orgProcedure('admin')
      .input(ZSavingsPolicy)
      .mutation(({ ctx, input }) => updateSavingsPolicy(ctx.prisma, ctx.orgId, ctx.actor, input)),
  },
} satisfies TRPCRouterRecord;
