import type { DbClient } from '@ballast/db';
import { initTRPC } from '@trpc/server';
import superjson from 'superjson';
import type { HostEvents } from '../events';

export interface TrpcContext {
  prisma: DbClient;
  events: HostEvents;
  /** The caller's organization: every query is scoped by it. */
  orgId: string;
  connectedAgents(): number;
  embeddedDatabase: boolean;
}

const t = initTRPC.context<TrpcContext>().create({ transformer: superjson });

export const createTRPCRouter = t.router;
export const createCallerFactory = t.createCallerFactory;
/** Until accounts exist every caller acts in the install's default organization. */
export const orgProcedure = t.procedure;
