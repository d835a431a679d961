import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createServer as createNetServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  AGENT_DOWNLOAD_PATH,
  AGENT_ENROLL_PATH,
  AGENT_SHA256_HEADER,
  AGENT_SHA256_PATH,
  type EnrollRequest,
} from '@ballast/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle, makeCertificates, runBundle } from '../../test/bundle.js';
import { startContainerd } from '../../test/containerd.js';
import { docker, requireDockerTestEnv, tempDir } from '../../test/helpers.js';
import { ZAgentConfigFile } from '../config/file.js';

const run = promisify(execFile);
const env = requireDockerTestEnv();
const CREDENTIAL = `bla_test_${'i'.repeat(43)}`;
const HOST_BUNDLE = '/usr/local/lib/ballast-agent/ballast-agent.mjs';

let dir: string;
let bundle: string;
let bundleBytes: Buffer;
let caFile: string;
let server: Server;
let base: string;
const received: EnrollRequest[] = [];
/** What the test server publishes for upgrade. */
let published: { bytes: Buffer; sha256: string } = { bytes: Buffer.alloc(0), sha256: '' };

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  bundle = await buildBundle();
  bundleBytes = await readFile(bundle);
  dir = await tempDir('install');
  const certs = await makeCertificates(dir);
  caFile = certs.caFile;
  server = createServer({ key: certs.key, cert: certs.cert }, (req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      if (req.url === AGENT_ENROLL_PATH && req.method === 'POST') {
        const request = JSON.parse(body) as EnrollRequest;
        received.push(request);
        if (request.token !== 'ble_good') {
          res.writeHead(410, { 'content-type': 'application/json' });
          return void res.end(JSON.stringify({ error: 'token_expired', message: 'enrollment token has expired' }));
        }
        res.writeHead(201, { 'content-type': 'application/json' });
        return void res.end(
          JSON.stringify({ agentId: 'agent_install', hostId: 'host_install', credential: CREDENTIAL, cloneOf: null }),
        );
      }
      if (req.url === '/healthz') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      if (req.url === AGENT_SHA256_PATH) return void res.writeHead(200).end(`${published.sha256}  ballast-agent.mjs\n`);
      if (req.url === AGENT_DOWNLOAD_PATH) {
        return void res.writeHead(200, { [AGENT_SHA256_HEADER]: published.sha256 }).end(published.bytes);
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Entry {
  type: string;
  mode: string;
  uid: number;
  gid: number;
}

/** Everything under a root as `find` lists it: type, octal mode, owner. */
async function listTree(root: string): Promise<Record<string, Entry>> {
  const { stdout } = await run('find', [root, '-mindepth', '1', '-printf', '%P\t%y\t%m\t%U\t%G\n']);
  const entries: Record<string, Entry> = {};
  for (const line of stdout.split('\n').filter(Boolean)) {
    const [p, type, mode, uid, gid] = line.split('\t');
    entries[p as string] = { type: type as string, mode: mode as string, uid: Number(uid), gid: Number(gid) };
  }
  return entries;
}

/** The unit's directives, each key with its values in order. */
function directives(unit: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of unit.split('\n')) {
    if (!line || line.startsWith('#') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    map.set(key, [...(map.get(key) ?? []), line.slice(eq + 1)]);
  }
  return map;
}

/** `systemd-analyze verify`: exit 0 is not enough, it only warns about unknown or bad keys. */
async function systemdVerify(unitFile: string): Promise<void> {
  try {
    await run('sh', ['-c', 'command -v systemd-analyze']);
  } catch {
    throw new Error(
      'systemd-analyze is missing: install the Debian package `systemd` (.ci/run does) to verify the unit',
    );
  }
  const result = await run('systemd-analyze', ['verify', unitFile]).then(
    ({ stderr }) => ({ code: 0, stderr }),
    (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
  );
  const aboutUnit = result.stderr
    .split('\n')
    .filter((l) => l.includes(unitFile) || l.includes('ballast-agent.service'));
  expect(aboutUnit).toEqual([]);
  expect(result.code).toBe(0);
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createNetServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const machineIdPresent = () =>
  stat('/etc/machine-id').then(
    () => true,
    () => false,
  );

async function expectedTree(uid: number, gid: number): Promise<Record<string, Entry>> {
  const d = (mode = '755'): Entry => ({ type: 'd', mode, uid, gid });
  const f = (mode: string): Entry => ({ type: 'f', mode, uid, gid });
  const tree: Record<string, Entry> = {
    etc: d(),
    'etc/ballast': d(),
    'etc/ballast/agent.json': f('600'),
    'etc/systemd': d(),
    'etc/systemd/system': d(),
    'etc/systemd/system/ballast-agent.service': f('644'),
    usr: d(),
    'usr/local': d(),
    'usr/local/bin': d(),
    'usr/local/bin/ballast-agent': { type: 'l', mode: '777', uid, gid },
    'usr/local/lib': d(),
    'usr/local/lib/ballast-agent': d(),
    'usr/local/lib/ballast-agent/ballast-agent.mjs': f('755'),
    var: d(),
    'var/lib': d(),
    'var/lib/ballast-agent': d('700'),
    'var/lib/ballast-agent/credential': f('600'),
    'var/lib/ballast-agent/enrollment.json': f('600'),
  };
  // Without /etc/machine-id the agent keeps a generated ID in its state file.
  if (!(await machineIdPresent())) tree['var/lib/ballast-agent/state.json'] = f('600');
  return tree;
}

let fullRoot: string;

describe('install into a temporary root', () => {
  it('writes exactly the config, bundle, link, unit and credential, with their modes and owner', async () => {
    fullRoot = await tempDir('root-full');
    const result = await runBundle(bundle, [
      'install',
      '--root',
      fullRoot,
      '--server',
      base,
      '--token',
      'ble_good',
      '--ca-file',
      caFile,
      '--label',
      'env=test',
      '--label',
      'team=storage',
      '--docker-host',
      env.host,
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('enrolled as agent_install (host host_install)');
    // No systemd under the root: the files are written and the commands printed.
    expect(result.stdout).toContain('systemctl daemon-reload && systemctl enable --now ballast-agent.service');

    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    expect(await listTree(fullRoot)).toEqual(await expectedTree(uid, gid));

    const config = JSON.parse(await readFile(path.join(fullRoot, 'etc/ballast/agent.json'), 'utf8'));
    expect(ZAgentConfigFile.parse(config)).toEqual(config);
    expect(config).toEqual({
      server: base,
      caFile,
      dockerHost: env.host,
      labels: { env: 'test', team: 'storage' },
      remediation: {
        enabled: true,
        disabledKinds: [],
        protectedImagePatterns: [],
        protectedLabels: ['com.ballast.protect'],
        daemonConfigFile: '/etc/docker/daemon.json',
      },
    });
    const installed = await readFile(path.join(fullRoot, HOST_BUNDLE));
    expect(sha256(installed)).toBe(sha256(bundleBytes));
    expect(await readlink(path.join(fullRoot, 'usr/local/bin/ballast-agent'))).toBe(HOST_BUNDLE);
    expect((await readFile(path.join(fullRoot, 'var/lib/ballast-agent/credential'), 'utf8')).trim()).toBe(CREDENTIAL);
    const record = JSON.parse(await readFile(path.join(fullRoot, 'var/lib/ballast-agent/enrollment.json'), 'utf8'));
    expect(record).toMatchObject({ agentId: 'agent_install', hostId: 'host_install', server: base });
    expect(received.at(-1)?.token).toBe('ble_good');
  });

  it('writes a hardened unit whose write paths are what remediation edits, and systemd-analyze verifies it', async () => {
    const unitFile = path.join(fullRoot, 'etc/systemd/system/ballast-agent.service');
    const unit = directives(await readFile(unitFile, 'utf8'));
    const dataRoot = (await docker(env, ['info', '--format', '{{.DockerRootDir}}'])).trim();
    const socketGroup = (await run('stat', ['-c', '%G', env.socketPath])).stdout.trim();
    const one = (key: string) => unit.get(key)?.join('\n');
    expect(one('ExecStart')).toBe(
      `${process.execPath} --no-turbofan --max-semi-space-size=1 --expose-gc ${HOST_BUNDLE} run --config /etc/ballast/agent.json`,
    );
    expect(unit.get('Environment')).toEqual([
      'MALLOC_ARENA_MAX=1',
      'MALLOC_MMAP_THRESHOLD_=131072',
      'MALLOC_TRIM_THRESHOLD_=131072',
    ]);
    expect(one('DynamicUser')).toBe('yes');
    expect(one('SupplementaryGroups')).toBe(socketGroup);
    expect(one('StateDirectory')).toBe('ballast-agent');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('ReadWritePaths')).toBe(`-/etc/docker -${dataRoot}/containers`);
    expect(one('PrivateTmp')).toBe('yes');
    expect(one('ProtectHome')).toBe('yes');
    expect(one('RestrictAddressFamilies')).toBe('AF_UNIX AF_INET AF_INET6');
    expect(one('Restart')).toBe('on-failure');
    expect(one('AmbientCapabilities')).toBe('CAP_DAC_READ_SEARCH CAP_DAC_OVERRIDE CAP_FOWNER CAP_CHOWN');
    expect(one('CapabilityBoundingSet')).toBe(one('AmbientCapabilities'));
    expect(unit.has('User')).toBe(false);
    await systemdVerify(unitFile);
  });

  it('the systemd-analyze check catches a bad key and a missing ExecStart binary', async () => {
    const good = await readFile(path.join(fullRoot, 'etc/systemd/system/ballast-agent.service'), 'utf8');
    const badDir = await tempDir('bad-unit');
    const badKey = path.join(badDir, 'ballast-agent.service');
    await writeFile(badKey, good.replace('ProtectHome=yes', 'ProtectHome=bogus'));
    await expect(systemdVerify(badKey)).rejects.toThrow();
    await writeFile(badKey, good.replace(`ExecStart=${process.execPath}`, 'ExecStart=/nonexistent/node'));
    await expect(systemdVerify(badKey)).rejects.toThrow();
    await rm(badDir, { recursive: true, force: true });
  });

  it("a re-install keeps the operator's policy edits, and the unit follows them", async () => {
    const configFile = path.join(fullRoot, 'etc/ballast/agent.json');
    const edited = JSON.parse(await readFile(configFile, 'utf8'));
    edited.remediation.disabledKinds = ['logs.truncate'];
    edited.remediation.protectedImagePatterns = ['registry.example.com/keep/*'];
    edited.intervalSeconds = 120;
    await writeFile(configFile, JSON.stringify(edited));
    const result = await runBundle(bundle, [
      'install',
      '--root',
      fullRoot,
      '--server',
      base,
      '--token',
      'ble_good',
      '--ca-file',
      caFile,
      '--docker-host',
      env.host,
    ]);
    expect(result.code).toBe(0);
    const config = JSON.parse(await readFile(configFile, 'utf8'));
    expect(config.remediation).toMatchObject({
      enabled: true,
      disabledKinds: ['logs.truncate'],
      protectedImagePatterns: ['registry.example.com/keep/*'],
    });
    expect(config.intervalSeconds).toBe(120);
    expect(config.labels).toEqual({ env: 'test', team: 'storage' });
    expect((await stat(configFile)).mode & 0o777).toBe(0o600);
    const unit = directives(await readFile(path.join(fullRoot, 'etc/systemd/system/ballast-agent.service'), 'utf8'));
    // Log truncation is off: the containers directory is no longer writable.
    expect(unit.get('ReadWritePaths')).toEqual(['-/etc/docker']);
  });

  it('--read-only: remediation disabled, no write paths, read capability only; verified too', async () => {
    const root = await tempDir('root-ro');
    const result = await runBundle(bundle, [
      'install',
      '--root',
      root,
      '--server',
      base,
      '--token',
      'ble_good',
      '--ca-file',
      caFile,
      '--read-only',
      '--docker-host',
      env.host,
    ]);
    expect(result.code).toBe(0);
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    expect(await listTree(root)).toEqual(await expectedTree(uid, gid));
    const config = JSON.parse(await readFile(path.join(root, 'etc/ballast/agent.json'), 'utf8'));
    expect(config.remediation.enabled).toBe(false);
    const unitFile = path.join(root, 'etc/systemd/system/ballast-agent.service');
    const text = await readFile(unitFile, 'utf8');
    const unit = directives(text);
    expect(unit.has('ReadWritePaths')).toBe(false);
    expect(text).not.toContain('/etc/docker');
    expect(text).not.toContain('/containers');
    expect(unit.get('AmbientCapabilities')).toEqual(['CAP_DAC_READ_SEARCH']);
    expect(unit.get('CapabilityBoundingSet')).toEqual(['CAP_DAC_READ_SEARCH']);
    expect(unit.get('ProtectSystem')).toEqual(['strict']);
    await systemdVerify(unitFile);
    await rm(root, { recursive: true, force: true });
  });

  it('on a containerd host without Docker: ordered after containerd, in its socket group, nothing of Docker', async () => {
    const ctd = await startContainerd();
    const root = await tempDir('root-ctd');
    try {
      // The operator's config names the engine, as on a host where auto-detection is not wanted.
      await mkdir(path.join(root, 'etc/ballast'), { recursive: true });
      await writeFile(
        path.join(root, 'etc/ballast/agent.json'),
        JSON.stringify({ collector: 'containerd', containerdAddress: ctd.socket }),
      );
      await mkdir(path.join(root, 'usr/lib/systemd/system'), { recursive: true });
      await writeFile(path.join(root, 'usr/lib/systemd/system/containerd.service'), '[Unit]\nDescription=containerd\n');
      const result = await runBundle(bundle, [
        'install',
        '--root',
        root,
        '--server',
        base,
        '--token',
        'ble_good',
        '--ca-file',
        caFile,
      ]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`engines: containerd at ${ctd.socket}`);
      // Asking Docker for its data root would have warned: Docker is not consulted at all.
      expect(result.stdout).not.toMatch(/docker|data root/i);
      const unitFile = path.join(root, 'etc/systemd/system/ballast-agent.service');
      const text = await readFile(unitFile, 'utf8');
      const unit = directives(text);
      const socketGroup = (await run('stat', ['-c', '%G', ctd.socket])).stdout.trim();
      expect(unit.get('After')).toEqual(['network-online.target containerd.service']);
      expect(unit.has('Requires')).toBe(false);
      expect(unit.get('SupplementaryGroups')).toEqual([socketGroup]);
      // Image removal goes through containerd's socket: no file to write.
      expect(unit.has('ReadWritePaths')).toBe(false);
      expect(unit.get('AmbientCapabilities')).toEqual(['CAP_DAC_READ_SEARCH']);
      expect(text).not.toMatch(/docker/i);
      await systemdVerify(unitFile);

      // doctor checks the engine this host has: containerd and its store, not Docker.
      const checked = await runBundle(bundle, ['doctor', '--root', root]);
      expect(checked.stdout).toContain('all checks passed');
      expect(checked.code).toBe(0);
      const ctrVersion = await ctd.ctr('default', ['version']);
      const serverVersion = /Server:\s+Version:\s+(\S+)/.exec(ctrVersion)?.[1];
      expect(serverVersion).toBeTruthy();
      expect(checked.stdout).toMatch(new RegExp(`^ok {3}containerd +${ctd.socket}: containerd ${serverVersion}`, 'm'));
      expect(checked.stdout).toMatch(
        new RegExp(`^ok {3}store +${ctd.root}/io\\.containerd\\.content\\.v1\\.content is readable`, 'm'),
      );
      expect(checked.stdout).not.toMatch(/docker|data root/i);
    } finally {
      await ctd.stop();
      await rm(root, { recursive: true, force: true });
    }
  });

  it('a refused token exits 1 with the reason and writes nothing', async () => {
    const root = await tempDir('root-refused');
    const result = await runBundle(bundle, [
      'install',
      '--root',
      root,
      '--server',
      base,
      '--token',
      'ble_old',
      '--ca-file',
      caFile,
      '--docker-host',
      env.host,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('HTTP 410');
    const tree = await listTree(root);
    expect(Object.keys(tree).filter((p) => !p.startsWith('var'))).toEqual([]);
    expect(Object.keys(tree).filter((p) => p.includes('credential'))).toEqual([]);
    await rm(root, { recursive: true, force: true });
  });
});

describe('status and doctor', () => {
  it('status names the installed version, the config, the enrolled agent and the server answer', async () => {
    const result = await runBundle(bundle, ['status', '--root', fullRoot]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`installed: ballast-agent ${(await runBundle(bundle, ['version'])).stdout.trim()}`);
    expect(result.stdout).toContain(`server ${base}, remediation enabled`);
    expect(result.stdout).toContain('agent:     agent_install (host host_install)');
    expect(result.stdout).toContain(`server:    ${base} HTTP 200`);
  });

  it('doctor passes every check on the installed root against the real dockerd', async () => {
    const result = await runBundle(bundle, ['doctor', '--root', fullRoot]);
    expect(result.stdout).toContain('all checks passed');
    expect(result.code).toBe(0);
    for (const check of ['config', 'node', 'walker', 'docker', 'data root', 'credential', 'server', 'tls', 'clock']) {
      expect(result.stdout).toMatch(new RegExp(`^ok {3}${check} `, 'm'));
    }
    // The bundle carries the native walker and loads it.
    expect(result.stdout).toMatch(/^ok {3}walker +native directory walker loaded$/m);
    const version = (await docker(env, ['version', '--format', '{{.Server.Version}}'])).trim();
    expect(result.stdout).toContain(`Docker ${version}`);
  });

  it('doctor fails clearly on a missing socket and a refusing server, and exits 1', async () => {
    const port = await freePort();
    const result = await runBundle(bundle, [
      'doctor',
      '--root',
      fullRoot,
      '--docker-host',
      'unix:///nonexistent/docker.sock',
      '--server',
      `http://127.0.0.1:${port}`,
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^FAIL docker .*\/nonexistent\/docker\.sock.*ENOENT/m);
    expect(result.stdout).toMatch(new RegExp(`^FAIL server .*127\\.0\\.0\\.1:${port} refused the connection`, 'm'));
    expect(result.stdout).toMatch(/check(s)? failed$/m);
  });

  it("doctor measures clock skew against the server's Date header", async () => {
    const certs = await makeCertificates(await tempDir('skew-certs'));
    const skewedBy = 600;
    const skewed = createServer({ key: certs.key, cert: certs.cert }, (_req, res) => {
      res.writeHead(200, { date: new Date(Date.now() - skewedBy * 1000).toUTCString() }).end('{}');
    });
    await new Promise<void>((resolve) => skewed.listen(0, '127.0.0.1', resolve));
    try {
      const url = `https://127.0.0.1:${(skewed.address() as AddressInfo).port}`;
      const result = await runBundle(bundle, [
        'doctor',
        '--root',
        fullRoot,
        '--server',
        url,
        '--ca-file',
        certs.caFile,
      ]);
      expect(result.code).toBe(1);
      const line = result.stdout.split('\n').find((l) => l.startsWith('FAIL clock'));
      expect(line).toMatch(/this host's clock is \d+ s ahead of the server's/);
      const seconds = Number(/is (\d+) s/.exec(line ?? '')?.[1]);
      expect(Math.abs(seconds - skewedBy)).toBeLessThanOrEqual(2);
      expect(result.stdout).toMatch(/^ok {3}tls /m);
    } finally {
      skewed.close();
    }
  });

  it('doctor reports a certificate it cannot verify, with the fix', async () => {
    const empty = await tempDir('root-empty');
    const result = await runBundle(bundle, ['doctor', '--root', empty, '--server', base, '--docker-host', env.host]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^FAIL config .*ENOENT/m);
    expect(result.stdout).toMatch(/^FAIL server .*TLS verification failed .*--ca-file/m);
    await rm(empty, { recursive: true, force: true });
  });
});

describe('upgrade', () => {
  const bundleFile = () => path.join(fullRoot, HOST_BUNDLE);

  it('replaces the bundle with the published one after checking its SHA-256', async () => {
    const next = Buffer.from(
      bundleBytes.toString('utf8').replace(/^(#![^\n]*\n\/\/ ballast-agent )(\S+)/, '$1$2-next'),
    );
    published = { bytes: next, sha256: sha256(next) };
    const result = await runBundle(bundle, ['upgrade', '--root', fullRoot]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/installed ballast-agent \S+-next/);
    expect(sha256(await readFile(bundleFile()))).toBe(published.sha256);
    expect((await stat(bundleFile())).mode & 0o777).toBe(0o755);
    // Written beside and renamed over: no temporary file is left.
    expect(Object.keys(await listTree(path.dirname(bundleFile())))).toEqual(['ballast-agent.mjs']);

    const again = await runBundle(bundle, ['upgrade', '--root', fullRoot]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already up to date');
  });

  it('refuses a bundle whose checksum differs from the published one and changes nothing', async () => {
    const before = sha256(await readFile(bundleFile()));
    published = { bytes: bundleBytes, sha256: '0'.repeat(64) };
    const result = await runBundle(bundle, ['upgrade', '--root', fullRoot]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('does not match the published');
    expect(sha256(await readFile(bundleFile()))).toBe(before);
  });
});

describe('uninstall', () => {
  it('removes what install wrote and keeps the state; --purge removes the state too', async () => {
    const result = await runBundle(bundle, ['uninstall', '--root', fullRoot]);
    expect(result.code).toBe(0);
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    const kept = Object.fromEntries(
      Object.entries(await expectedTree(uid, gid)).filter(
        ([p]) =>
          p.startsWith('var') ||
          ['etc', 'etc/systemd', 'etc/systemd/system', 'usr', 'usr/local', 'usr/local/bin', 'usr/local/lib'].includes(
            p,
          ),
      ),
    );
    expect(await listTree(fullRoot)).toEqual(kept);

    const purge = await runBundle(bundle, ['uninstall', '--root', fullRoot, '--purge']);
    expect(purge.code).toBe(0);
    expect(Object.keys(await listTree(fullRoot)).filter((p) => p.startsWith('var/lib/ballast-agent'))).toEqual([]);
  });
});
