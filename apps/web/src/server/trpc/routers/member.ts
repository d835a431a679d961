import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { ROLES } from '../../auth/roles';
import { changeMemberRole, listMembers, removeMember } from '../../services/members';
import { orgProcedure } from '../init';

export const memberRouter = {
  list: orgProcedure('admin').query(({ ctx }) => listMembers(ctx.prisma, ctx.orgId)),

  updateRole: orgProcedure('admin')
    .input(z.object({ userId: z.string().max(64), role: z.enum(ROLES) }))
    .mutation(({ ctx, input }) => changeMemberRole(ctx.prisma, ctx.orgId, ctx.actor, input)),

  remove: orgProcedure('admin')
    .input(z.object({ userId: z.string().max(64) }))
    .mutation(({ ctx, input }) => removeMember(ctx.prisma, ctx.orgId, ctx.actor, input.userId)),
} satisfies TRPCRouterRecord;
