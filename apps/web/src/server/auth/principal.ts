import type { DbClient } from '@ballast/db';
import { bearerToken } from '../gateway/agent-auth';
import { authenticateApiToken } from '../services/api-tokens';
import type { Principal } from '../trpc/init';
import type { Auth } from './better-auth';

/**
 * Establishes the caller: an `Authorization: Bearer blt_…` API token, or else the session
 * cookie. A request that presents an Authorization header is judged by it alone, so a bad
 * token never falls back to ambient cookies. `cookies` receives session refreshes to forward.
 */
export async function resolvePrincipal(
  deps: { prisma: DbClient; auth: Auth },
  headers: Headers,
  cookies: (cookie: string) => void = () => {},
): Promise<Principal | null> {
  const authorization = headers.get('authorization');
  if (authorization !== null) {
    const token = bearerToken(authorization);
    const principal = token ? await authenticateApiToken(deps.prisma, token) : null;
    return principal ? { kind: 'token', ...principal } : null;
  }
  const { headers: responseHeaders, response } = await deps.auth.api.getSession({ headers, returnHeaders: true });
  for (const cookie of responseHeaders.getSetCookie()) cookies(cookie);
  if (!response) return null;
  return { kind: 'session', userId: response.user.id, email: response.user.email, name: response.user.name };
}
