import type { TRPCRouterRecord } from '@trpc/server';
import { orgProcedure } from '../init';

export const systemRouter = {
  status: orgProcedure.query(({ ctx }) => ({
    connectedAgents: ctx.connectedAgents(),
    embeddedDatabase: ctx.embeddedDatabase,
  })),
} satisfies TRPCRouterRecord;
