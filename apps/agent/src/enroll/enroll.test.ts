import { execFile } from 'node:child_process';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { AGENT_ENROLL_PATH, type EnrollRequest } from '@ballast/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../../test/helpers.js';
import { readEnv, resolveRunConfig } from '../env.js';
import { CREDENTIAL_FILE, readStoredCredential, requestEnrollment, storeCredential } from './enroll.js';

const run = promisify(execFile);
const CREDENTIAL = `bla_test_${'c'.repeat(43)}`;

let dir: string;
let server: Server;
let base: string;
let caFile: string;
const received: EnrollRequest[] = [];

// A throwaway CA and a server certificate it signs for 127.0.0.1 (node:crypto cannot make
// certificates, so the openssl CLI does, in the test only).
async function makeCertificates(into: string) {
  const p = (name: string) => path.join(into, name);
  await run(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=Ballast Test CA'].concat([
      '-keyout',
      p('ca.key'),
      '-out',
      p('ca.pem'),
    ]),
  );
  await run(
    'openssl',
    ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', p('server.key')].concat([
      '-out',
      p('server.csr'),
    ]),
  );
  await writeFile(p('ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  await run(
    'openssl',
    ['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key')].concat([
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      p('ext.cnf'),
      '-out',
      p('server.pem'),
    ]),
  );
  return { ca: p('ca.pem'), key: await readFile(p('server.key')), cert: await readFile(p('server.pem')) };
}

beforeAll(async () => {
  dir = await tempDir('enroll');
  const certs = await makeCertificates(dir);
  caFile = certs.ca;
  server = createServer({ key: certs.key, cert: certs.cert }, (req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      if (req.url !== AGENT_ENROLL_PATH || req.method !== 'POST') return void res.writeHead(404).end();
      const request = JSON.parse(body) as EnrollRequest;
      received.push(request);
      if (request.token !== 'ble_good') {
        res.writeHead(410, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ error: 'token_expired', message: 'enrollment token has expired' }));
      }
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ agentId: 'agent_1', hostId: 'host_1', credential: CREDENTIAL, cloneOf: null }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('enrollment', () => {
  it('stores the credential mode 0600 and run uses it when no token is given', async () => {
    const state = path.join(dir, 'state-store');
    const file = await storeCredential(state, CREDENTIAL);
    expect(file).toBe(path.join(state, CREDENTIAL_FILE));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readStoredCredential(state)).toBe(CREDENTIAL);
    const cfg = resolveRunConfig({ server: base, 'state-dir': state }, readEnv({}));
    expect(cfg.token).toBe(CREDENTIAL);
    // An explicit token still wins over the stored credential.
    expect(resolveRunConfig({ server: base, 'state-dir': state, token: 'explicit' }, readEnv({})).token).toBe(
      'explicit',
    );
  });

  it('verifies the server certificate: works with --ca-file, fails without it', async () => {
    const ca = await readFile(caFile, 'utf8');
    const body = { token: 'ble_good', machineId: 'm1', hostname: 'h1' };
    await expect(requestEnrollment(base, body, ca)).resolves.toMatchObject({ credential: CREDENTIAL });
    await expect(requestEnrollment(base, body, null)).rejects.toThrow(/self-signed|unable to verify|certificate/i);
  });

  it('ballast-agent enroll writes the credential; a refused token exits 1 with the reason', async () => {
    const state = path.join(dir, 'state-cli');
    const machineIdFile = path.join(dir, 'machine-id');
    await writeFile(machineIdFile, `${'ab'.repeat(16)}\n`);
    const args = ['enroll', '--server', base, '--state-dir', state, '--machine-id-file', machineIdFile];
    const ok = await runCli([...args, '--token', 'ble_good', '--ca-file', caFile]).done;
    expect(ok.stderr).not.toContain('error');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('enrolled as agent_1');
    expect(received.at(-1)).toMatchObject({ token: 'ble_good', machineId: 'ab'.repeat(16) });
    const stored = path.join(state, CREDENTIAL_FILE);
    expect((await readFile(stored, 'utf8')).trim()).toBe(CREDENTIAL);
    expect((await stat(stored)).mode & 0o777).toBe(0o600);

    const untrusted = await runCli([...args, '--token', 'ble_good']).done;
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/certificate/i);

    const refused = await runCli([...args, '--token', 'ble_old', '--ca-file', caFile]).done;
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('HTTP 410');
    expect(refused.stderr).toContain('expired');
  });
});
