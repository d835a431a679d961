import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { listAuditEvents } from '../../services/audit';
import { getOrganizationSettings, updateOrganizationSettings } from '../../services/organizations';
import { orgProcedure } from '../init';
import { ZOrganizationName } from './account';

export const organizationRouter = {
  /** The caller's organization and role in it. */
  current: orgProcedure('viewer').query(async ({ ctx }) => ({
    ...(await getOrganizationSettings(ctx.prisma, ctx.orgId)),
    role: ctx.role,
  })),

  update: orgProcedure('admin')
    .input(z.object({ name: ZOrganizationName.optional(), requireTwoPersonApproval: z.boolean().optional() }))
    .mutation(({ ctx, input }) => updateOrganizationSettings(ctx.prisma, ctx.orgId, ctx.actor, input)),

  auditLog: orgProcedure('admin')
    .input(z.object({ limit: z.number().int().min(1).max(500).default(100) }).default({ limit: 100 }))
    .query(({ ctx, input }) => listAuditEvents(ctx.prisma, ctx.orgId, input.limit)),
} satisfies TRPCRouterRecord;
