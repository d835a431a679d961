import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { getRuntime } from '~/server/runtime';
import { appRouter } from '~/server/trpc/root';

export const dynamic = 'force-dynamic';

function handler(req: Request) {
  return fetchRequestHandler({
    endpoint: '/api/trpc',
    req,
    router: appRouter,
    createContext: () => {
      const runtime = getRuntime();
      return {
        prisma: runtime.prisma,
        events: runtime.events,
        orgId: runtime.defaultOrgId,
        connectedAgents: runtime.connectedAgents,
        embeddedDatabase: runtime.embeddedDatabase,
      };
    },
    onError: ({ path, error }) => {
      if (error.code === 'INTERNAL_SERVER_ERROR') {
        process.stderr.write(`${JSON.stringify({ level: 'error', msg: 'trpc error', path, error: error.message })}\n`);
      }
    },
  });
}

export { handler as GET, handler as POST };
