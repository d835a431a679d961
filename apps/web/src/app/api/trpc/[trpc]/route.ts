import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { isSameOriginWrite, secureCookiesFor } from '~/server/auth/origin';
import { getRuntime } from '~/server/runtime';
import { createRequestContext } from '~/server/trpc/context';
import { appRouter } from '~/server/trpc/root';

export const dynamic = 'force-dynamic';

async function handler(req: Request) {
  const runtime = getRuntime();
  // Cookie-authenticated writes must come from our own pages; bearer tokens are never ambient.
  if (req.method === 'POST' && !req.headers.has('authorization') && !isSameOriginWrite(req, runtime.publicUrl)) {
    return Response.json({ error: { message: 'cross-origin request refused', code: 'FORBIDDEN' } }, { status: 403 });
  }
  const response = await fetchRequestHandler({
    endpoint: '/api/trpc',
    req,
    router: appRouter,
    createContext: ({ resHeaders }) => createRequestContext(runtime, req, resHeaders),
    onError: ({ path, error }) => {
      if (error.code === 'INTERNAL_SERVER_ERROR') {
        runtime.log.error('trpc error', { path, error: error.message });
      }
    },
  });
  return secureCookiesFor(response, req);
}

export { handler as GET, handler as POST };
