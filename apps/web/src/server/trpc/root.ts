import { createTRPCRouter } from './init';
import { accountRouter } from './routers/account';
import { agentRouter } from './routers/agent';
import { apiTokenRouter } from './routers/api-token';
import { enrollmentTokenRouter } from './routers/enrollment-token';
import { fleetRouter } from './routers/fleet';
import { hostRouter } from './routers/host';
import { imageRouter } from './routers/image';
import { invitationRouter } from './routers/invitation';
import { jobRouter } from './routers/job';
import { memberRouter } from './routers/member';
import { opportunityRouter } from './routers/opportunity';
import { organizationRouter } from './routers/organization';
import { settingsRouter } from './routers/settings';
import { systemRouter } from './routers/system';

export const appRouter = createTRPCRouter({
  account: accountRouter,
  agent: agentRouter,
  apiToken: apiTokenRouter,
  enrollmentToken: enrollmentTokenRouter,
  fleet: fleetRouter,
  host: hostRouter,
  image: imageRouter,
  invitation: invitationRouter,
  job: jobRouter,
  member: memberRouter,
  opportunity: opportunityRouter,
  organization: organizationRouter,
  settings: settingsRouter,
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
