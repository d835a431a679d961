import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Database, openDatabase } from '@ballast/db';
import { createTestDatabase } from '@ballast/db/test/pg';
import {
  AGENT_DOWNLOAD_PATH,
  AGENT_SHA256_HEADER,
  AGENT_SHA256_PATH,
  AGENT_VERSION_HEADER,
  AGENT_WS_PATH,
  INSTALL_SCRIPT_PATH,
  type ServerMessage,
} from '@ballast/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type AgentDistribution, createAgentDistribution, installScript } from './agent-distribution';
import { HostEvents } from './events';
import { combinedAuthenticator, sharedTokenAuthenticator } from './gateway/agent-auth';
import { type AgentGateway, createAgentGateway } from './gateway/agent-gateway';
import { createIngestHandlers } from './gateway/ingest-handlers';
import { createLogger } from './log';
import { authenticateAgentCredential, createEnrollmentToken, enrollAgent } from './services/enrollment';
import { ensureDefaultOrganization } from './services/organizations';

const run = promisify(execFile);
const agentDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../agent');
const bundlePath = path.join(agentDir, 'dist', 'ballast-agent.mjs');

let server: Server;
let gateway: AgentGateway;
let distribution: AgentDistribution;
let db: Database;
let dropDatabase: () => Promise<void>;
let orgId: string;
let base: string;
let scratch: string;

/** The production composition of server.ts: gateway first, then the distribution. */
beforeAll(async () => {
  await run(process.execPath, [path.join(agentDir, 'scripts', 'bundle.mjs')]);
  scratch = await mkdtemp(path.join(tmpdir(), 'ballast-dist-'));
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  db = await openDatabase({ databaseUrl: database.url, dataDir: '/nonexistent' });
  orgId = (await ensureDefaultOrganization(db.prisma)).id;
  distribution = createAgentDistribution({ bundlePath, publicUrl: undefined, log: createLogger('error') });
  gateway = createAgentGateway({
    authenticate: combinedAuthenticator(
      (credential) => authenticateAgentCredential(db.prisma, credential),
      sharedTokenAuthenticator(undefined, orgId),
    ),
    enroll: (request) => enrollAgent(db.prisma, request),
    handlers: createIngestHandlers(db.prisma, new HostEvents()),
    log: createLogger('error'),
    serverVersion: 'test',
    agentVersion: () => distribution.agentVersion(),
    snapshotIntervalSeconds: 60,
  });
  await distribution.load();
  server = createServer((req, res) => {
    if (gateway.handleRequest(req, res)) return;
    if (distribution.handleRequest(req, res)) return;
    res.writeHead(404).end();
  });
  server.on('upgrade', (req, socket, head) => {
    if (!gateway.handleUpgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await gateway?.close();
  server?.close();
  await db?.close();
  await dropDatabase?.();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function agentPackageVersion(): Promise<string> {
  return (JSON.parse(await readFile(path.join(agentDir, 'package.json'), 'utf8')) as { version: string }).version;
}

/** `sha256sum`: an oracle that shares no code with the server. */
async function sha256sum(file: string): Promise<string> {
  return (await run('sha256sum', [file])).stdout.split(' ')[0] ?? '';
}

/** Runs a shell pipeline: the way an operator runs install.sh. */
function shell(script: string, env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('sh', ['-c', script], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('agent download', () => {
  it('serves the bundle byte for byte, with the SHA-256 sha256sum computes and the package version', async () => {
    const res = await fetch(`${base}${AGENT_DOWNLOAD_PATH}`);
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    const onDisk = await readFile(bundlePath);
    expect(body.equals(onDisk)).toBe(true);
    expect(Number(res.headers.get('content-length'))).toBe((await stat(bundlePath)).size);
    const expected = await sha256sum(bundlePath);
    expect(res.headers.get(AGENT_SHA256_HEADER)).toBe(expected);
    expect(res.headers.get(AGENT_VERSION_HEADER)).toBe(await agentPackageVersion());

    const sum = await fetch(`${base}${AGENT_SHA256_PATH}`);
    expect(sum.status).toBe(200);
    expect(await sum.text()).toBe(`${expected}  ballast-agent.mjs\n`);

    // The downloaded file checks out with `sha256sum -c` against the published line.
    const file = path.join(scratch, 'ballast-agent.mjs');
    await writeFile(file, body);
    await writeFile(path.join(scratch, 'SHA256SUMS'), `${expected}  ballast-agent.mjs\n`);
    const check = await shell(`cd ${scratch} && sha256sum -c SHA256SUMS`);
    expect(check.code).toBe(0);
  });

  it('answers 503 with the fix when the bundle is missing, and 405 to other methods', async () => {
    const missing = createAgentDistribution({
      bundlePath: path.join(scratch, 'absent.mjs'),
      publicUrl: undefined,
      log: createLogger('error'),
    });
    const s = createServer((req, res) => {
      if (!missing.handleRequest(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    try {
      const res = await fetch(`${url}${INSTALL_SCRIPT_PATH}`);
      expect(res.status).toBe(503);
      expect(await res.text()).toContain('npm run -w @ballast/agent bundle');
    } finally {
      s.close();
    }
    const post = await fetch(`${base}${AGENT_DOWNLOAD_PATH}`, { method: 'POST' });
    expect(post.status).toBe(405);
  });
});

describe('install.sh', () => {
  it('is valid POSIX sh naming this server (from Host) and the published checksum', async () => {
    const res = await fetch(`${base}${INSTALL_SCRIPT_PATH}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const script = await res.text();
    const file = path.join(scratch, 'install.sh');
    await writeFile(file, script);
    // dash is Debian's /bin/sh: a bash-only construct fails its syntax check.
    expect((await shell(`sh -n ${file}`)).code).toBe(0);
    expect(script).toContain(`SERVER='${base}'`);
    expect(script).toContain(`SHA256='${await sha256sum(bundlePath)}'`);
  });

  it('uses BALLAST_PUBLIC_URL over the request Host', () => {
    const script = installScript('https://ballast.example.com', { sha256: 'a'.repeat(64), version: '9.9.9' });
    expect(script).toContain(`SERVER='https://ballast.example.com'`);
    expect(script).toContain('proto="=https"');
  });

  it('curl | sh installs and enrolls the agent into a root, and the welcome frame names the published version', async () => {
    const { token } = await createEnrollmentToken(db.prisma, orgId, 'user:test', {
      name: 'install.sh',
      expiresInSeconds: 600,
      maxUses: 1,
    });
    const root = await mkdtemp(path.join(scratch, 'root-'));
    const dockerHost = process.env.BALLAST_TEST_DOCKER_HOST ?? 'unix:///nonexistent.sock';
    const result = await shell(
      `curl -fsSL ${base}${INSTALL_SCRIPT_PATH} | sh -s -- --token "$TOKEN" --root ${root} --read-only --docker-host ${dockerHost}`,
      { TOKEN: token },
    );
    expect(result.stderr + result.stdout).toContain('enrolled as');
    expect(result.code).toBe(0);

    const installed = await readFile(path.join(root, 'usr/local/lib/ballast-agent/ballast-agent.mjs'));
    expect(installed.equals(await readFile(bundlePath))).toBe(true);
    const config = JSON.parse(await readFile(path.join(root, 'etc/ballast/agent.json'), 'utf8'));
    expect(config.server).toBe(base);
    expect(config.remediation.enabled).toBe(false);

    // The credential the installer stored is one the server accepts (SQL: one credential row).
    const credential = (await readFile(path.join(root, 'var/lib/ballast-agent/credential'), 'utf8')).trim();
    const rows = await db.prisma.$queryRawUnsafe<{ n: bigint }[]>('SELECT count(*) AS n FROM agent_credentials');
    expect(Number(rows[0]?.n)).toBe(1);
    const welcome = await new Promise<ServerMessage>((resolve, reject) => {
      const ws = new WebSocket(`${base.replace('http', 'ws')}${AGENT_WS_PATH}`, {
        headers: { authorization: `Bearer ${credential}` },
      });
      ws.on('error', reject);
      ws.on('open', () =>
        ws.send(
          JSON.stringify({
            v: 1,
            type: 'hello',
            agentVersion: '0.0.1',
            machineId: 'install-sh-test',
            hostname: 'install-sh-test',
            capabilities: [],
          }),
        ),
      );
      ws.on('message', (data) => {
        resolve(JSON.parse(data.toString()) as ServerMessage);
        ws.close();
      });
    });
    expect(welcome).toMatchObject({ type: 'welcome', agentVersion: await agentPackageVersion() });
  });

  it('refuses a download whose checksum differs from the published one, installing nothing', async () => {
    const script = installScript(base, { sha256: '0'.repeat(64), version: 'tampered' });
    const file = path.join(scratch, 'install-bad.sh');
    await writeFile(file, script);
    const root = await mkdtemp(path.join(scratch, 'root-bad-'));
    const result = await shell(`sh ${file} --token ble_unused --root ${root}`);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('checksum mismatch');
    expect((await run('find', [root, '-mindepth', '1'])).stdout).toBe('');
  });
});
