import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { organizationCookie } from '../../auth/org-cookie';
import { ROLES } from '../../auth/roles';
import { AppError } from '../../errors';
import {
  acceptInvitation,
  createInvitation,
  listPendingInvitations,
  previewInvitation,
  revokeInvitation,
} from '../../services/invitations';
import { orgProcedure, publicProcedure, userProcedure } from '../init';
import { ZEmail, ZPassword, ZPersonName } from './account';

const ZToken = z.string().max(200);

export const invitationRouter = {
  preview: publicProcedure
    .input(z.object({ token: ZToken }))
    .query(({ ctx, input }) => previewInvitation(ctx.prisma, input.token)),

  /** Sign-up: the only way to create an account after setup. */
  acceptAsNewUser: publicProcedure
    .input(z.object({ token: ZToken, name: ZPersonName, password: ZPassword }))
    .mutation(async ({ ctx, input }) => {
      const preview = await previewInvitation(ctx.prisma, input.token);
      if (preview.accountExists) throw new AppError('CONFLICT', 'an account with this email exists: sign in to accept');
      const { userId, cookies } = await ctx.accounts.createUser({
        name: input.name,
        email: preview.email,
        password: input.password,
      });
      const { orgId } = await acceptInvitation(ctx.prisma, input.token, { id: userId, email: preview.email }).catch(
        async (error: unknown) => {
          await ctx.accounts.deleteUser(userId);
          throw error;
        },
      );
      for (const cookie of cookies) ctx.setCookie(cookie);
      ctx.setCookie(organizationCookie(orgId));
      return { orgId };
    }),

  /** An existing user joining another organization. */
  accept: userProcedure.input(z.object({ token: ZToken })).mutation(async ({ ctx, input }) => {
    const { orgId } = await acceptInvitation(ctx.prisma, input.token, { id: ctx.user.userId, email: ctx.user.email });
    ctx.setCookie(organizationCookie(orgId));
    return { orgId };
  }),

  list: orgProcedure('admin').query(({ ctx }) => listPendingInvitations(ctx.prisma, ctx.orgId)),

  create: orgProcedure('admin')
    .input(z.object({ email: ZEmail, role: z.enum(ROLES) }))
    .mutation(async ({ ctx, input }) => {
      const { invitation, token } = await createInvitation(ctx.prisma, ctx.orgId, ctx.actingUserId, input);
      const link = `${ctx.appUrl}/sign-up?invitation=${encodeURIComponent(token)}`;
      // No mail transport yet: the admin passes the link on, and it is in the log for them too.
      ctx.log.info('invitation created: send this link to the invitee', { email: invitation.email, link });
      return { invitation, link };
    }),

  revoke: orgProcedure('admin')
    .input(z.object({ id: z.string().max(64) }))
    .mutation(({ ctx, input }) => revokeInvitation(ctx.prisma, ctx.orgId, ctx.actor, input.id)),
} satisfies TRPCRouterRecord;
