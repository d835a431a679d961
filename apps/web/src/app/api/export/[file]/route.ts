import { TRPCError } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { resolvePrincipal } from '~/server/auth/principal';
import { exportCsv } from '~/server/export';
import { getRuntime } from '~/server/runtime';
import { createRequestContext } from '~/server/trpc/context';

export const dynamic = 'force-dynamic';

/** GET /api/export/audit.csv and /api/export/jobs.csv, filtered by the query string. */
export async function GET(req: Request, { params }: { params: Promise<{ file: string }> }) {
  const runtime = getRuntime();
  const { file } = await params;
  const responseHeaders = new Headers();
  const principal = await resolvePrincipal(runtime, req.headers, (cookie) =>
    responseHeaders.append('set-cookie', cookie),
  );
  if (!principal) return Response.json({ error: 'sign in first' }, { status: 401 });
  try {
    const ctx = createRequestContext(runtime, req, responseHeaders, principal);
    const exported = await exportCsv(ctx, file, new URL(req.url).searchParams);
    if (!exported) return Response.json({ error: `no export named ${file}` }, { status: 404 });
    responseHeaders.set('content-type', 'text/csv; charset=utf-8');
    responseHeaders.set('content-disposition', `attachment; filename="${exported.filename}"`);
    responseHeaders.set('cache-control', 'no-store');
    return new Response(exported.body, { status: 200, headers: responseHeaders });
  } catch (error) {
    if (error instanceof TRPCError) {
      return Response.json({ error: error.message }, { status: getHTTPStatusCodeFromError(error) });
    }
    runtime.log.error('export failed', { file, error: String(error) });
    return Response.json({ error: 'export failed' }, { status: 500 });
  }
}
