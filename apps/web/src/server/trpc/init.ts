import type { DbClient, Role } from '@ballast/db';
import { initTRPC, TRPCError } from '@trpc/server';
import superjson from 'superjson';
import type { AccountGateway } from '../auth/accounts';
import { roleAtLeast } from '../auth/roles';
import { AppError, type AppErrorCode } from '../errors';
import type { HostEvents } from '../events';
import type { Logger } from '../log';

/** Who is calling, as established from the request before any procedure runs. */
export type Principal =
  | { kind: 'session'; userId: string; email: string; name: string }
  | { kind: 'token'; tokenId: string; orgId: string; role: Role; createdByUserId: string };

export interface TrpcContext {
  prisma: DbClient;
  events: HostEvents;
  embeddedDatabase: boolean;
  principal: Principal | null;
  /** The organization a session caller picked (org cookie); membership is checked per call. */
  requestedOrgId: string | null;
  accounts: AccountGateway;
  /** Where links handed to users (invitations) point. */
  appUrl: string;
  log: Logger;
  /** Adds a Set-Cookie header to the response. */
  setCookie(cookie: string): void;
  /** Closes an enrolled agent's live socket (see AgentGateway.disconnectAgent). */
  disconnectAgent(agentId: string, reason: string): boolean;
}

const t = initTRPC.context<TrpcContext>().create({ transformer: superjson });

// The one place application errors become API errors.
const TRPC_CODES: Record<AppErrorCode, TRPCError['code']> = {
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  BAD_REQUEST: 'BAD_REQUEST',
};

const baseProcedure = t.procedure.use(async ({ next }) => {
  const result = await next();
  if (!result.ok && result.error.cause instanceof AppError) {
    const cause = result.error.cause;
    throw new TRPCError({ code: TRPC_CODES[cause.code], message: cause.message, cause });
  }
  return result;
});

export const createTRPCRouter = t.router;
export const createCallerFactory = t.createCallerFactory;

/** No caller needed: first-run setup and invitation links only. */
export const publicProcedure = baseProcedure;

/** A signed-in person, in no particular organization (their own organizations and invitations). */
export const userProcedure = baseProcedure.use(({ ctx, next }) => {
  const principal = ctx.principal;
  if (!principal) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'sign in first' });
  if (principal.kind !== 'session') {
    throw new TRPCError({ code: 'FORBIDDEN', message: 'API tokens act in their organization only' });
  }
  return next({ ctx: { user: principal } });
});

export interface OrgCaller {
  orgId: string;
  role: Role;
  /** For audit rows: `user:<id>` or `token:<id>`. */
  actor: string;
  /** The person responsible: the user, or the user who created the API token. */
  actingUserId: string;
  requireTwoPersonApproval: boolean;
}

async function resolveOrgCaller(ctx: TrpcContext): Promise<OrgCaller> {
  const principal = ctx.principal;
  if (!principal) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'sign in first' });
  if (principal.kind === 'token') {
    const org = await ctx.prisma.organization.findUnique({
      where: { id: principal.orgId },
      select: { requireTwoPersonApproval: true },
    });
    if (!org) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'token organization no longer exists' });
    return {
      orgId: principal.orgId,
      role: principal.role,
      actor: `token:${principal.tokenId}`,
      actingUserId: principal.createdByUserId,
      requireTwoPersonApproval: org.requireTwoPersonApproval,
    };
  }
  // The requested organization if the user belongs to it, else their oldest membership.
  const memberships = await ctx.prisma.membership.findMany({
    where: { userId: principal.userId },
    orderBy: { createdAt: 'asc' },
    select: { orgId: true, role: true, organization: { select: { requireTwoPersonApproval: true } } },
  });
  const membership = memberships.find((m) => m.orgId === ctx.requestedOrgId) ?? memberships[0];
  if (!membership) throw new TRPCError({ code: 'FORBIDDEN', message: 'you are not a member of any organization' });
  return {
    orgId: membership.orgId,
    role: membership.role,
    actor: `user:${principal.userId}`,
    actingUserId: principal.userId,
    requireTwoPersonApproval: membership.organization.requireTwoPersonApproval,
  };
}

/**
 * A caller acting in one organization with at least `minimum` role. Every query of tenant
 * data is scoped by `ctx.orgId`, which comes from the membership or token, never from input.
 */
export function orgProcedure(minimum: Role) {
  return baseProcedure.use(async ({ ctx, next }) => {
    const caller = await resolveOrgCaller(ctx);
    if (!roleAtLeast(caller.role, minimum)) {
      throw new TRPCError({ code: 'FORBIDDEN', message: `this needs the ${minimum} role; you are ${caller.role}` });
    }
    return next({ ctx: caller });
  });
}
