import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase } from '@ballast/db/test/pg';

const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = path.resolve(webDir, '../..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite with \`npm test\``);
  return value;
}

export interface Stack {
  url: string;
  stateDir: string;
  logs: string[];
  stop(): Promise<void>;
}

function pipeLogs(child: ChildProcess, into: string[], tag: string) {
  const push = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim()) into.push(`[${tag}] ${line}`);
  };
  child.stdout?.on('data', push);
  child.stderr?.on('data', push);
}

async function stopChild(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export interface Server {
  url: string;
  stateDir: string;
  logs: string[];
  agentToken: string;
  stop(): Promise<void>;
}

/** Starts the production server (built by `next build`) alone on a fresh PostgreSQL database. */
export async function startServer(): Promise<Server> {
  const database = await createTestDatabase();
  const port = await freePort();
  const agentToken = randomBytes(24).toString('base64url');
  const stateDir = mkdtempSync(path.join(tmpdir(), 'ballast-e2e-'));
  const logs: string[] = [];
  const url = `http://127.0.0.1:${port}`;

  const server = spawn(process.execPath, ['--import', 'tsx', path.join(webDir, 'server.ts')], {
    cwd: repoRoot,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: database.url,
      BALLAST_AGENT_TOKEN: agentToken,
      BALLAST_AUTH_SECRET: randomBytes(32).toString('base64url'),
      // The agent reports at the longer of its own and the server's interval.
      BALLAST_SNAPSHOT_INTERVAL_SECONDS: '5',
      BALLAST_DATA_DIR: path.join(stateDir, 'server'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  pipeLogs(server, logs, 'server');

  const deadline = Date.now() + 90_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`server exited early:\n${logs.join('\n')}`);
    if (Date.now() > deadline) throw new Error(`server not healthy in time:\n${logs.join('\n')}`);
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    stateDir,
    logs,
    agentToken,
    stop: async () => {
      await stopChild(server);
      await database.drop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** The production server plus a real agent against the test dockerd, as separate processes. */
export async function startStack(): Promise<Stack> {
  const dockerHost = requireEnv('BALLAST_TEST_DOCKER_HOST');
  const server = await startServer();
  const agent = spawn(
    process.execPath,
    [
      path.join(repoRoot, 'apps/agent/bin/ballast-agent.mjs'),
      'run',
      '--server',
      server.url,
      // One argument: a random token may start with '-', which would read as a flag.
      `--token=${server.agentToken}`,
      '--docker-host',
      dockerHost,
      '--state-dir',
      path.join(server.stateDir, 'agent'),
      '--interval',
      '5',
    ],
    { cwd: repoRoot, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  pipeLogs(agent, server.logs, 'agent');

  return {
    url: server.url,
    stateDir: server.stateDir,
    logs: server.logs,
    stop: async () => {
      await stopChild(agent);
      await server.stop();
    },
  };
}
