import { isSameOriginWrite, secureCookiesFor } from '~/server/auth/origin';
import { getRuntime } from '~/server/runtime';

export const dynamic = 'force-dynamic';

async function handler(req: Request) {
  const runtime = getRuntime();
  if (req.method === 'POST' && !isSameOriginWrite(req, runtime.publicUrl)) {
    return Response.json({ message: 'cross-origin request refused' }, { status: 403 });
  }
  return secureCookiesFor(await runtime.auth.handler(req), req);
}

export { handler as GET, handler as POST };
