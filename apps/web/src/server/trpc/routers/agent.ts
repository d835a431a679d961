import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { listAgents, revokeAgentCredential } from '../../services/enrollment';
import { orgProcedure } from '../init';

export const agentRouter = {
  list: orgProcedure('admin').query(({ ctx }) => listAgents(ctx.prisma, ctx.orgId)),

  /** Refuses the credential from now on and closes the agent's live socket with 4403. */
  revoke: orgProcedure('admin')
    .input(z.object({ id: z.string().max(64) }))
    .mutation(async ({ ctx, input }) => {
      await revokeAgentCredential(ctx.prisma, ctx.orgId, ctx.actor, input.id);
      return { disconnected: ctx.disconnectAgent(input.id, 'credential revoked') };
    }),
} satisfies TRPCRouterRecord;
