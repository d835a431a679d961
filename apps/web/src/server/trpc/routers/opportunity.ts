import type { TRPCRouterRecord } from '@trpc/server';
import {
  listOpportunities,
  summarizeOpportunities,
  ZOpportunityListInput,
  ZOpportunitySummaryInput,
} from '../../services/fleet';
import { orgProcedure } from '../init';

export const opportunityRouter = {
  list: orgProcedure('viewer')
    .input(ZOpportunityListInput.default({ sort: 'monthlyCost', direction: 'desc', limit: 200 }))
    .query(({ ctx, input }) => listOpportunities(ctx.prisma, ctx.orgId, input)),
  summary: orgProcedure('viewer')
    .input(ZOpportunitySummaryInput.default({ by: 'kind', limit: 50 }))
    .query(({ ctx, input }) => summarizeOpportunities(ctx.prisma, ctx.orgId, input)),
} satisfies TRPCRouterRecord;
