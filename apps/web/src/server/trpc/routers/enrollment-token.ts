import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { createEnrollmentToken, listEnrollmentTokens, revokeEnrollmentToken } from '../../services/enrollment';
import { orgProcedure } from '../init';

export const enrollmentTokenRouter = {
  list: orgProcedure('admin').query(({ ctx }) => listEnrollmentTokens(ctx.prisma, ctx.orgId)),

  /** The token is in this response only; it cannot be shown again. */
  create: orgProcedure('admin')
    .input(
      z.object({
        name: z.string().trim().min(1, 'name the token').max(80),
        // At most 30 days: a long-lived token that enrolls anything is a standing risk.
        expiresInSeconds: z
          .number()
          .int()
          .min(60)
          .max(30 * 24 * 3600),
        maxUses: z.number().int().min(1).max(10_000),
      }),
    )
    .mutation(({ ctx, input }) => createEnrollmentToken(ctx.prisma, ctx.orgId, ctx.actor, input)),

  revoke: orgProcedure('admin')
    .input(z.object({ id: z.string().max(64) }))
    .mutation(({ ctx, input }) => revokeEnrollmentToken(ctx.prisma, ctx.orgId, ctx.actor, input.id)),
} satisfies TRPCRouterRecord;
