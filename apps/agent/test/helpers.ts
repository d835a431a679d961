import { execFile, spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const AGENT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const AGENT_BIN = path.join(AGENT_DIR, 'bin', 'ballast-agent.mjs');

export interface DockerTestEnv {
  /** DOCKER_HOST-style URL of the test engine. */
  host: string;
  socketPath: string;
  dataRoot: string;
}

/**
 * The real dockerd the integration tests run against. Missing configuration fails the
 * tests instead of skipping them: a silently skipped suite looks like a passing one.
 */
export function requireDockerTestEnv(): DockerTestEnv {
  const host = process.env.BALLAST_TEST_DOCKER_HOST;
  const dataRoot = process.env.BALLAST_TEST_DOCKER_DATA_ROOT;
  if (!host || !dataRoot) {
    throw new Error(
      'BALLAST_TEST_DOCKER_HOST and BALLAST_TEST_DOCKER_DATA_ROOT must be set: start the test engine with ' +
        '`scripts/services.sh start` and `source` the env file it prints (npm test does this), then build the ' +
        'fixture with apps/agent/test/fixtures/make-docker-state.sh',
    );
  }
  if (!host.startsWith('unix://')) throw new Error(`BALLAST_TEST_DOCKER_HOST must be a unix:// socket, got ${host}`);
  return { host, socketPath: host.slice('unix://'.length), dataRoot };
}

export async function sh(command: string, args: string[], env?: Record<string, string>): Promise<string> {
  const { stdout } = await run(command, args, {
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, ...env },
  });
  return stdout;
}

/** Raw Engine API through curl: an oracle that shares no code with the agent's client. */
export async function curlJson<T>(env: DockerTestEnv, apiPath: string): Promise<T> {
  return JSON.parse(
    await sh('curl', ['-sS', '--fail', '--unix-socket', env.socketPath, `http://docker${apiPath}`]),
  ) as T;
}

export function docker(env: DockerTestEnv, args: string[]): Promise<string> {
  return sh('docker', ['-H', env.host, ...args]);
}

/** `du -s -B1`: allocated bytes, directories and the root included, hard links once. */
export async function duAllocated(target: string, oneFileSystem = false): Promise<number> {
  const out = await sh('du', ['-s', '-B1', ...(oneFileSystem ? ['-x'] : []), target]);
  return Number(out.split('\t')[0]);
}

/** `du -sk` in bytes (rounds up to KiB, which allocation on a 4 KiB-block filesystem never needs). */
export async function duKiB(target: string): Promise<number> {
  return Number((await sh('du', ['-sk', target])).split('\t')[0]) * 1024;
}

/** Docker's directory-size rule written with find/sort/awk: non-directories with size > 0, each inode once. */
export async function dockerRuleBytes(target: string): Promise<number> {
  const out = await sh('sh', [
    '-c',
    'find "$1" ! -type d -printf "%i %s\\n" | sort -u | awk \'$2 > 0 { s += $2 } END { printf "%d", s }\'',
    'sh',
    target,
  ]);
  return Number(out);
}

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `ballast-agent-${prefix}-`));
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the real launcher (tsx and all) as a user would. */
export function runCli(args: string[], options: { cwd?: string; env?: Record<string, string | undefined> } = {}) {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, ...options.env })) {
    if (value !== undefined) env[key] = value;
  }
  const child = spawn(process.execPath, [AGENT_BIN, ...args], {
    cwd: options.cwd ?? os.tmpdir(),
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done, output: () => ({ stdout, stderr }) };
}
