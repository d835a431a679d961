import { ORG_COOKIE, readCookie } from '../auth/org-cookie';
import { requestOrigin, withSecure } from '../auth/origin';
import { resolvePrincipal } from '../auth/principal';
import type { ServerRuntime } from '../runtime';
import type { TrpcContext } from './init';

/** The context of one /api/trpc request: who calls, in which organization they asked to act. */
export async function createRequestContext(
  runtime: ServerRuntime,
  req: Request,
  resHeaders: Headers,
): Promise<TrpcContext> {
  const setCookie = (cookie: string) =>
    resHeaders.append('set-cookie', runtime.secureCookies ? withSecure(cookie) : cookie);
  const principal = await resolvePrincipal(runtime, req.headers, setCookie);
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
  };
}
