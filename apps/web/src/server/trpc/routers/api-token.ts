import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { createApiToken, listApiTokens, revokeApiToken } from '../../services/api-tokens';
import { orgProcedure } from '../init';

export const apiTokenRouter = {
  list: orgProcedure('admin').query(({ ctx }) => listApiTokens(ctx.prisma, ctx.orgId)),

  /** The token is in this response only; it cannot be shown again. */
  create: orgProcedure('admin')
    .input(
      z.object({
        name: z.string().trim().min(1, 'name the token').max(80),
        scope: z.enum(['read', 'operate', 'admin']),
      }),
    )
    .mutation(({ ctx, input }) => createApiToken(ctx.prisma, ctx.orgId, ctx.actingUserId, input, ctx.actor)),

  revoke: orgProcedure('admin')
    .input(z.object({ id: z.string().max(64) }))
    .mutation(({ ctx, input }) => revokeApiToken(ctx.prisma, ctx.orgId, ctx.actor, input.id)),
} satisfies TRPCRouterRecord;
