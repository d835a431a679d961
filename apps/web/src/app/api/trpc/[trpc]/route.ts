import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { isSameOriginWrite, secureCookiesFor } from '~/server/auth/origin';
import { resolvePrincipal } from '~/server/auth/principal';
import { getRuntime } from '~/server/runtime';
import { createRequestContext } from '~/server/trpc/context';
import { appRouter, PUBLIC_PROCEDURES } from '~/server/trpc/root';

export const dynamic = 'force-dynamic';

async function handler(req: Request) {
  const runtime = getRuntime();
  // Cookie-authenticated writes must come from our own pages; bearer tokens are never ambient.
  if (req.method === 'POST' && !req.headers.has('authorization') && !isSameOriginWrite(req, runtime.publicUrl)) {
    return Response.json({ error: { message: 'cross-origin request refused', code: 'FORBIDDEN' } }, { status: 403 });
  }
  const refreshedCookies: string[] = [];
  const principal = await resolvePrincipal(runtime, req.headers, (cookie) => refreshedCookies.push(cookie));
  // Refused here rather than per procedure so that subscriptions, whose errors would otherwise
  // travel inside a 200 event stream, get a plain 401 as well.
  const paths = decodeURIComponent(new URL(req.url).pathname.replace(/^\/api\/trpc\/?/, '')).split(',');
  if (!principal && paths.some((path) => !PUBLIC_PROCEDURES.has(path))) {
    return Response.json({ error: { message: 'sign in first', code: 'UNAUTHORIZED' } }, { status: 401 });
  }
  const response = await fetchRequestHandler({
    endpoint: '/api/trpc',
    req,
    router: appRouter,
    createContext: ({ resHeaders }) => {
      for (const cookie of refreshedCookies) resHeaders.append('set-cookie', cookie);
      return createRequestContext(runtime, req, resHeaders, principal);
    },
    onError: ({ path, error }) => {
      if (error.code === 'INTERNAL_SERVER_ERROR') {
        runtime.log.error('trpc error', { path, error: error.message });
      }
    },
  });
  return secureCookiesFor(response, req);
}

export { handler as GET, handler as POST };
