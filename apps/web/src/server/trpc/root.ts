import { createTRPCRouter } from './init';
import { accountRouter } from './routers/account';
import { agentRouter } from './routers/agent';
import { apiTokenRouter } from './routers/api-token';
import { enrollmentTokenRouter } from './routers/enrollment-token';
import { hostRouter } from './routers/host';
import { invitationRouter } from './routers/invitation';
import { memberRouter } from './routers/member';
import { organizationRouter } from './routers/organization';
import { systemRouter } from './routers/system';

export const appRouter = createTRPCRouter({
  account: accountRouter,
  agent: agentRouter,
  apiToken: apiTokenRouter,
  enrollmentToken: enrollmentTokenRouter,
  host: hostRouter,
  invitation: invitationRouter,
  member: memberRouter,
  organization: organizationRouter,
  system: systemRouter,
});

export type AppRouter = typeof appRouter;

/** Procedures callable without signing in (built on publicProcedure); the access test keeps this in step. */
export const PUBLIC_PROCEDURES: ReadonlySet<string> = new Set([
  'account.setupState',
  'account.setup',
  'invitation.preview',
  'invitation.acceptAsNewUser',
]);
