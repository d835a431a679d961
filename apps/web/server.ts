import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '@ballast/db';
import next from 'next';
import { parseEnv } from './src/env';
import { createAgentDistribution } from './src/server/agent-distribution';
import { betterAuthAccounts } from './src/server/auth/accounts';
import { CLIENT_IP_HEADER, createAuth } from './src/server/auth/better-auth';
import { HostEvents } from './src/server/events';
import { combinedAuthenticator, sharedTokenAuthenticator } from './src/server/gateway/agent-auth';
import { AGENT_LISTEN_BACKLOG, createAgentGateway } from './src/server/gateway/agent-gateway';
import { createIngestHandlers } from './src/server/gateway/ingest-handlers';
import { createJobDispatch } from './src/server/gateway/job-dispatch';
import { healthReport } from './src/server/health';
import { createLogger } from './src/server/log';
import { setRuntime } from './src/server/runtime';
import { authenticateAgentCredential, enrollAgent } from './src/server/services/enrollment';
import { ensureDefaultOrganization } from './src/server/services/organizations';
import { startRetention } from './src/server/services/retention';

const SERVER_VERSION = '0.1.0';

async function main() {
  const env = parseEnv();
  const log = createLogger(env.BALLAST_LOG_LEVEL);
  const dataDir = path.resolve(env.BALLAST_DATA_DIR);
  const db = await openDatabase({ databaseUrl: env.DATABASE_URL, dataDir });
  log.info('database ready', { embedded: db.embedded, dataDir: db.embedded ? dataDir : undefined });

  const org = await ensureDefaultOrganization(db.prisma);
  const events = new HostEvents();
  if (env.BALLAST_AGENT_TOKEN) {
    log.warn('BALLAST_AGENT_TOKEN is set: agents holding it connect without enrolling (development installs only)');
  }

  const distribution = createAgentDistribution({
    bundlePath:
      env.BALLAST_AGENT_BUNDLE ??
      path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../agent/dist/ballast-agent.mjs'),
    publicUrl: env.BALLAST_PUBLIC_URL,
    log: log.child({ component: 'agent-distribution' }),
  });
  await distribution.load();

  const jobs = createJobDispatch({ prisma: db.prisma, events, log: log.child({ component: 'jobs' }) });
  const gateway = createAgentGateway({
    authenticate: combinedAuthenticator(
      (credential) => authenticateAgentCredential(db.prisma, credential),
      sharedTokenAuthenticator(env.BALLAST_AGENT_TOKEN, org.id),
    ),
    enroll: (request) => enrollAgent(db.prisma, request),
    log: log.child({ component: 'gateway' }),
    serverVersion: SERVER_VERSION,
    agentVersion: () => distribution.agentVersion(),
    snapshotIntervalSeconds: env.BALLAST_SNAPSHOT_INTERVAL_SECONDS,
    handlers: createIngestHandlers(db.prisma, events),
    jobs,
  });

  let secret = env.BALLAST_AUTH_SECRET;
  if (!secret) {
    // Only outside production (env.ts refuses it there): sessions end when this process does.
    log.warn('BALLAST_AUTH_SECRET is not set: using a random one, so restarting signs everyone out');
    secret = randomBytes(32).toString('base64url');
  }
  const loopback = env.HOST === '0.0.0.0' || env.HOST === '::' ? '127.0.0.1' : env.HOST;
  const secureCookies = env.BALLAST_PUBLIC_URL?.startsWith('https://') ?? false;
  const auth = createAuth({
    prisma: db.prisma,
    secret,
    baseUrl: env.BALLAST_PUBLIC_URL ?? `http://${loopback.includes(':') ? `[${loopback}]` : loopback}:${env.PORT}`,
    publicUrl: env.BALLAST_PUBLIC_URL,
    secureCookies,
    log: log.child({ component: 'auth' }),
  });

  setRuntime({
    prisma: db.prisma,
    events,
    embeddedDatabase: db.embedded,
    defaultOrgId: org.id,
    connectedAgents: () => gateway.connectedAgents(),
    disconnectAgent: (agentId, reason) => gateway.disconnectAgent(agentId, reason),
    auth,
    accounts: betterAuthAccounts(auth, db.prisma),
    log,
    publicUrl: env.BALLAST_PUBLIC_URL,
    secureCookies,
  });

  const stopRetention = startRetention(
    db.prisma,
    {
      hourlyDays: env.BALLAST_RETENTION_HOURLY_DAYS,
      fleetDailyDays: env.BALLAST_RETENTION_DAILY_DAYS,
      auditDays: env.BALLAST_RETENTION_AUDIT_DAYS,
    },
    log.child({ component: 'retention' }),
  );

  const dev = env.NODE_ENV !== 'production';
  const app = next({ dev, dir: path.dirname(fileURLToPath(import.meta.url)), hostname: env.HOST, port: env.PORT });
  await app.prepare();
  const handle = app.getRequestHandler();
  const handleNextUpgrade = app.getUpgradeHandler();

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    // The sign-in rate limiter keys on this; set from the socket so a client cannot choose it.
    req.headers[CLIENT_IP_HEADER] = req.socket.remoteAddress ?? 'unknown';
    if (req.url === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      healthReport(db.prisma, { embedded: db.embedded, connectedAgents: gateway.connectedAgents() }).then(
        (report) => {
          res.writeHead(report.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' });
          res.end(JSON.stringify(report));
        },
        () => {
          res.writeHead(503).end();
        },
      );
      return;
    }
    if (gateway.handleRequest(req, res)) return;
    if (distribution.handleRequest(req, res)) return;
    handle(req, res).catch((error: unknown) => {
      log.error('request failed', { url: req.url, error: String(error) });
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  server.on('upgrade', (req, socket, head) => {
    if (!gateway.handleUpgrade(req, socket, head)) handleNextUpgrade(req, socket, head);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: env.PORT, host: env.HOST, backlog: AGENT_LISTEN_BACKLOG }, resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  log.info('ballast server listening', { url: `http://${env.HOST}:${port}`, dev });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    await stopRetention();
    jobs.close();
    await gateway.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await app.close?.();
    await db.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'server failed to start', error: error instanceof Error ? error.message : String(error) })}\n`,
  );
  process.exit(1);
});
