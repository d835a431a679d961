import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { AGENT_DIR, type CliResult } from './helpers.js';

const run = promisify(execFile);

export const BUNDLE_FILE = path.join(AGENT_DIR, 'dist', 'ballast-agent.mjs');

/** Builds dist/ballast-agent.mjs exactly as `npm run bundle` does, so tests use fresh code. */
export async function buildBundle(): Promise<string> {
  await run(process.execPath, [path.join(AGENT_DIR, 'scripts', 'bundle.mjs')], { cwd: AGENT_DIR });
  return BUNDLE_FILE;
}

/** Runs a bundle file with plain node: no tsx, no loader. */
export function runBundle(
  bundle: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  const child = spawn(process.execPath, [bundle, ...args], {
    cwd: options.cwd ?? path.dirname(bundle),
    env: { ...process.env, ...options.env },
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
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

/** A throwaway CA and a certificate it signs for 127.0.0.1 (openssl CLI, in tests only). */
export async function makeCertificates(into: string) {
  const p = (name: string) => path.join(into, name);
  const openssl = (args: string[]) => run('openssl', args);
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=Ballast Test CA',
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.pem'),
  ]);
  await openssl([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    p('server.key'),
    '-out',
    p('server.csr'),
  ]);
  await import('node:fs/promises').then((fs) => fs.writeFile(p('ext.cnf'), 'subjectAltName=IP:127.0.0.1\n'));
  await openssl([
    'x509',
    '-req',
    '-in',
    p('server.csr'),
    '-CA',
    p('ca.pem'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    p('ext.cnf'),
    '-out',
    p('server.pem'),
  ]);
  const { readFile } = await import('node:fs/promises');
  return { caFile: p('ca.pem'), key: await readFile(p('server.key')), cert: await readFile(p('server.pem')) };
}
