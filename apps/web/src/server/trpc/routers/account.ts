import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { organizationCookie } from '../../auth/org-cookie';
import { AppError } from '../../errors';
import { createOrganization, listUserOrganizations } from '../../services/organizations';
import { claimDefaultOrganization, needsSetup } from '../../services/setup';
import { publicProcedure, userProcedure } from '../init';

export const ZOrganizationName = z.string().trim().min(1, 'name the organization').max(80);
export const ZPersonName = z.string().trim().min(1, 'enter your name').max(120);
export const ZEmail = z.string().trim().toLowerCase().email('enter a valid email address').max(254);
export const ZPassword = z.string().min(10, 'use at least 10 characters').max(256);

export const accountRouter = {
  setupState: publicProcedure.query(async ({ ctx }) => ({ needsSetup: await needsSetup(ctx.prisma) })),

  /** First run only: creates the first user as admin of the default organization and signs them in. */
  setup: publicProcedure
    .input(z.object({ organizationName: ZOrganizationName, name: ZPersonName, email: ZEmail, password: ZPassword }))
    .mutation(async ({ ctx, input }) => {
      if (!(await needsSetup(ctx.prisma))) throw new AppError('CONFLICT', 'setup is already complete: sign in instead');
      const { userId, cookies } = await ctx.accounts.createUser(input);
      const { orgId } = await claimDefaultOrganization(ctx.prisma, {
        userId,
        organizationName: input.organizationName,
      }).catch(async (error: unknown) => {
        await ctx.accounts.deleteUser(userId);
        throw error;
      });
      for (const cookie of cookies) ctx.setCookie(cookie);
      ctx.setCookie(organizationCookie(orgId));
      ctx.log.info('setup complete: first admin created', { email: input.email, orgId });
      return { orgId };
    }),

  me: userProcedure.query(async ({ ctx }) => {
    const organizations = await listUserOrganizations(ctx.prisma, ctx.user.userId);
    const active = organizations.find((o) => o.id === ctx.requestedOrgId) ?? organizations[0] ?? null;
    return {
      user: { id: ctx.user.userId, name: ctx.user.name, email: ctx.user.email },
      organizations,
      activeOrganizationId: active?.id ?? null,
    };
  }),

  switchOrganization: userProcedure.input(z.object({ orgId: z.string().max(64) })).mutation(async ({ ctx, input }) => {
    const organizations = await listUserOrganizations(ctx.prisma, ctx.user.userId);
    if (!organizations.some((o) => o.id === input.orgId)) throw new AppError('NOT_FOUND', 'no such organization');
    ctx.setCookie(organizationCookie(input.orgId));
    return { orgId: input.orgId };
  }),

  createOrganization: userProcedure.input(z.object({ name: ZOrganizationName })).mutation(async ({ ctx, input }) => {
    const { id } = await createOrganization(ctx.prisma, ctx.user.userId, input.name);
    ctx.setCookie(organizationCookie(id));
    return { orgId: id };
  }),
} satisfies TRPCRouterRecord;
