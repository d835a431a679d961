import type { TRPCRouterRecord } from '@trpc/server';
import { listOpportunities, ZOpportunityListInput } from '../../services/fleet';
import { orgProcedure } from '../init';

export const opportunityRouter = {
  list: orgProcedure('viewer')
    .input(ZOpportunityListInput.default({ sort: 'monthlyCost', direction: 'desc', limit: 200 }))
    .query(({ ctx, input }) => listOpportunities(ctx.prisma, ctx.orgId, input)),
} satisfies TRPCRouterRecord;
