import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { listJobAudit, ZAuditListInput } from '../../services/audit';
import {
  approveCampaign,
  approveJob,
  cancelJob,
  createCampaign,
  createJob,
  createJobFromOpportunity,
  getJob,
  getJobPolicy,
  listCampaigns,
  listJobs,
  updateJobPolicy,
  ZAutoApproveKinds,
  ZCampaignApproveInput,
  ZCampaignCreateInput,
  ZJobApproveInput,
  ZJobCreateInput,
  ZJobFromOpportunityInput,
  ZJobListInput,
} from '../../services/jobs';
import { orgProcedure } from '../init';

const ZId = z.object({ id: z.string().min(1).max(64) });

export const jobRouter = {
  /** A job of a kind with explicit parameters on one host; the agent plans it first. */
  create: orgProcedure('operator')
    .input(ZJobCreateInput)
    .mutation(({ ctx, input }) => createJob(ctx.prisma, ctx, input)),

  /** The job a stored opportunity proposes ("Plan"); volumes are named one by one. */
  createFromOpportunity: orgProcedure('operator')
    .input(ZJobFromOpportunityInput)
    .mutation(({ ctx, input }) => createJobFromOpportunity(ctx.prisma, ctx, input)),

  /** The same kind and parameters on many hosts, approved together. */
  createCampaign: orgProcedure('operator')
    .input(ZCampaignCreateInput)
    .mutation(({ ctx, input }) => createCampaign(ctx.prisma, ctx, input)),

  approve: orgProcedure('operator')
    .input(ZJobApproveInput)
    .mutation(({ ctx, input }) => approveJob(ctx.prisma, ctx, input)),

  approveCampaign: orgProcedure('operator')
    .input(ZCampaignApproveInput)
    .mutation(({ ctx, input }) => approveCampaign(ctx.prisma, ctx, input)),

  cancel: orgProcedure('operator')
    .input(ZId)
    .mutation(({ ctx, input }) => cancelJob(ctx.prisma, ctx, input.id)),

  list: orgProcedure('viewer')
    .input(ZJobListInput)
    .query(({ ctx, input }) => listJobs(ctx.prisma, ctx.orgId, input)),

  get: orgProcedure('viewer')
    .input(ZId)
    .query(({ ctx, input }) => getJob(ctx.prisma, ctx.orgId, input.id)),

  campaigns: orgProcedure('viewer').query(({ ctx }) => listCampaigns(ctx.prisma, ctx.orgId)),

  /** Every job and campaign change, with filters. */
  audit: orgProcedure('viewer')
    .input(ZAuditListInput)
    .query(({ ctx, input }) => listJobAudit(ctx.prisma, ctx.orgId, input)),

  policy: {
    get: orgProcedure('viewer').query(({ ctx }) => getJobPolicy(ctx.prisma, ctx.orgId)),
    update: orgProcedure('admin')
      .input(z.object({ autoApproveKinds: ZAutoApproveKinds }))
      .mutation(({ ctx, input }) => updateJobPolicy(ctx.prisma, ctx.orgId, ctx.actor, input)),
  },
} satisfies TRPCRouterRecord;
