#!/usr/bin/env node
// `npm start`: builds what is needed (cached by turbo), starts the Ballast server on the
// embedded database (or DATABASE_URL), and, when a Docker socket is reachable, a local
// agent reporting this host. Prints the URL; Ctrl-C stops everything.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1', TURBO_TELEMETRY_DISABLED: '1' };
const dataDir = path.resolve(root, env.BALLAST_DATA_DIR ?? '.ballast');
const port = Number(env.PORT ?? 3000);
const host = env.HOST ?? '127.0.0.1';

const say = (line) => process.stdout.write(`[ballast] ${line}\n`);

/** A secret kept in the data directory (mode 0600), made on first use. */
function storedSecret(name) {
  const file = path.join(dataDir, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

function dockerSocket() {
  const fromEnv = env.DOCKER_HOST?.startsWith('unix://') ? env.DOCKER_HOST.slice('unix://'.length) : null;
  const socket = fromEnv ?? '/var/run/docker.sock';
  try {
    accessSync(socket, constants.R_OK | constants.W_OK);
    return socket;
  } catch {
    return null;
  }
}

/** True while no account exists yet (the server's public setup-state query). */
async function firstRun(url) {
  try {
    const res = await fetch(`${url}/api/trpc/account.setupState`);
    const body = await res.json();
    return body?.result?.data?.json?.needsSetup === true;
  } catch {
    return false;
  }
}

async function waitForHealth(url, child, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode}`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`server not healthy after ${timeoutMs / 1000}s`);
}

mkdirSync(dataDir, { recursive: true, mode: 0o700 });

say('building (cached after the first run)…');
const build = spawnSync('npx', ['turbo', 'run', 'build', '--filter=@ballast/web', '--output-logs=errors-only'], {
  cwd: root,
  env,
  stdio: 'inherit',
});
if (build.status !== 0) process.exit(build.status ?? 1);

const token = env.BALLAST_AGENT_TOKEN ?? storedSecret('agent-token');
// Signs session cookies; kept across restarts so nobody is signed out by one.
const authSecret = env.BALLAST_AUTH_SECRET ?? storedSecret('auth-secret');
const children = [];
const server = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'apps/web/server.ts')], {
  cwd: root,
  env: {
    ...env,
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: host,
    BALLAST_DATA_DIR: dataDir,
    BALLAST_AGENT_TOKEN: token,
    BALLAST_AUTH_SECRET: authSecret,
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
children.push(server);

const stopAll = (code) => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  setTimeout(() => process.exit(code), 3000).unref();
};
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));
server.on('exit', (code) => stopAll(code ?? 1));

const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
try {
  await waitForHealth(`${url}/healthz`, server, 120_000);
} catch (error) {
  say(String(error));
  stopAll(1);
}

const socket = dockerSocket();
if (socket) {
  const agent = spawn(
    process.execPath,
    [
      path.join(root, 'apps/agent/bin/ballast-agent.mjs'),
      'run',
      '--server',
      url,
      '--docker-host',
      `unix://${socket}`,
      '--state-dir',
      path.join(dataDir, 'agent'),
    ],
    // The token goes through the environment, not argv, so `ps` does not show it.
    { cwd: root, env: { ...env, BALLAST_TOKEN: token }, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  children.push(agent);
  agent.on('exit', (code) => say(`local agent exited (code ${code}); the server keeps running`));
  say(`local agent started for Docker at ${socket}`);
} else {
  say('no Docker socket reachable (set DOCKER_HOST or run with access to /var/run/docker.sock): no local agent');
}
say(`Ballast is running: ${url}`);
const publicUrl = env.BALLAST_PUBLIC_URL ?? url;
if (await firstRun(url)) {
  say(`first run: open ${publicUrl}/setup to create the admin account (the agent's host lands in its organization)`);
} else {
  say(`sign in at ${publicUrl}/sign-in; forgotten passwords: the reset link is printed in this log`);
}
const tokenHint = env.BALLAST_AGENT_TOKEN ? '$BALLAST_AGENT_TOKEN' : path.join(dataDir, 'agent-token');
say(`other agents connect with: BALLAST_TOKEN=… ballast-agent run --server ${url} (token: ${tokenHint})`);
