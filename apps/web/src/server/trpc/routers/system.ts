import type { TRPCRouterRecord } from '@trpc/server';
import { countConnectedHosts } from '../../services/hosts';
import { orgProcedure } from '../init';

export const systemRouter = {
  status: orgProcedure('viewer').query(async ({ ctx }) => ({
    // Counted per organization: the gateway's own total would reveal other tenants' agents.
    connectedAgents: await countConnectedHosts(ctx.prisma, ctx.orgId),
    embeddedDatabase: ctx.embeddedDatabase,
  })),
} satisfies TRPCRouterRecord;
