import { ORG_COOKIE, readCookie } from '../auth/org-cookie';
import { requestOrigin, withSecure } from '../auth/origin';
import type { ServerRuntime } from '../runtime';
import type { Principal, TrpcContext } from './init';

/** The context of one /api/trpc request: who calls, in which organization they asked to act. */
export function createRequestContext(
  runtime: ServerRuntime,
  req: Request,
  resHeaders: Headers,
  principal: Principal | null,
): TrpcContext {
  const setCookie = (cookie: string) =>
    resHeaders.append('set-cookie', runtime.secureCookies ? withSecure(cookie) : cookie);
  return {
    prisma: runtime.prisma,
    events: runtime.events,
    embeddedDatabase: runtime.embeddedDatabase,
    principal,
    requestedOrgId: readCookie(req.headers.get('cookie'), ORG_COOKIE),
    accounts: runtime.accounts,
    appUrl: runtime.publicUrl ?? requestOrigin(req),
    log: runtime.log,
    setCookie,
    disconnectAgent: (agentId, reason) => runtime.disconnectAgent(agentId, reason),
  };
}
