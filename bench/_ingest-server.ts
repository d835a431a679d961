// The ingest bench's server: the production agent gateway and ingest handlers (the same code
// apps/web/server.ts mounts) on a plain HTTP server against real PostgreSQL, without Next.js.
// Prints `{"port":…}` once listening and the ingest queue's fill every second, as JSON lines.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openDatabase } from '@ballast/db';
import { HostEvents } from '../apps/web/src/server/events.js';
import { sharedTokenAuthenticator } from '../apps/web/src/server/gateway/agent-auth.js';
import { AGENT_LISTEN_BACKLOG, createAgentGateway } from '../apps/web/src/server/gateway/agent-gateway.js';
import { createIngestHandlers } from '../apps/web/src/server/gateway/ingest-handlers.js';
import { createLogger } from '../apps/web/src/server/log.js';
import { ensureDefaultOrganization } from '../apps/web/src/server/services/organizations.js';

const databaseUrl = process.env.BENCH_DATABASE_URL;
const token = process.env.BENCH_AGENT_TOKEN;
if (!databaseUrl || !token) throw new Error('BENCH_DATABASE_URL and BENCH_AGENT_TOKEN are required');

const db = await openDatabase({ databaseUrl, dataDir: '/nonexistent' });
const org = await ensureDefaultOrganization(db.prisma);
const gateway = createAgentGateway({
  authenticate: sharedTokenAuthenticator(token, org.id),
  handlers: createIngestHandlers(db.prisma, new HostEvents()),
  log: createLogger('warn'),
  serverVersion: 'bench',
  snapshotIntervalSeconds: 60,
  // The ping sweep runs at its production interval; hello timeout is generous for the storm.
  helloTimeoutMs: 60_000,
});
const server = createServer((_req, res) => res.writeHead(404).end());
server.on('upgrade', (req, socket, head) => {
  if (!gateway.handleUpgrade(req, socket, head)) socket.destroy();
});
server.listen({ port: 0, host: '127.0.0.1', backlog: AGENT_LISTEN_BACKLOG }, () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
setInterval(() => {
  process.stdout.write(`${JSON.stringify({ stats: gateway.ingestStats(), connected: gateway.connectedAgents() })}\n`);
}, 1_000).unref();
process.on('SIGTERM', () => {
  void gateway.close().then(async () => {
    server.close();
    await db.close();
    process.exit(0);
  });
});
