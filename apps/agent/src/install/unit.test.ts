import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers.js';
import { DEFAULT_REMEDIATION, ZRemediationConfig } from '../config/file.js';
import { engineServices, remediationWritePaths, renderUnit, type UnitOptions, unitFileExists } from './unit.js';

const run = promisify(execFile);
const docker = { dockerDataRoot: '/var/lib/docker', k3sConfigDir: null };
const base = {
  nodePath: '/usr/bin/node',
  bundleFile: '/usr/local/lib/ballast-agent/ballast-agent.mjs',
  configFile: '/etc/ballast/agent.json',
  engines: docker,
  after: ['docker.service'],
  socketGroups: ['docker'],
};
const lines = (unit: string, key: string) => unit.split('\n').filter((l) => l.startsWith(`${key}=`));
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('remediationWritePaths', () => {
  it('is empty when remediation is disabled, whatever else the policy says', () => {
    expect(remediationWritePaths({ ...DEFAULT_REMEDIATION, enabled: false }, docker)).toEqual([]);
  });

  it('follows the kinds left enabled and the configured daemon.json', () => {
    const policy = (over: object) => ZRemediationConfig.parse({ ...over });
    const at = (dockerDataRoot: string) => ({ dockerDataRoot, k3sConfigDir: null });
    expect(remediationWritePaths(policy({}), at('/srv/docker'))).toEqual(['/etc/docker', '/srv/docker/containers']);
    expect(remediationWritePaths(policy({ disabledKinds: ['logs.truncate'] }), at('/srv/docker'))).toEqual([
      '/etc/docker',
    ]);
    expect(
      remediationWritePaths(
        policy({ disabledKinds: ['logs.configureRotation', 'buildCache.configureGC'] }),
        at('/srv/docker'),
      ),
    ).toEqual(['/srv/docker/containers']);
    expect(remediationWritePaths(policy({ daemonConfigFile: '/opt/docker/conf/daemon.json' }), at('/d'))).toEqual([
      '/opt/docker/conf',
      '/d/containers',
    ]);
  });

  it("on a k3s host: k3s's config directory only, nothing of Docker's", () => {
    const k3s = { dockerDataRoot: null, k3sConfigDir: '/etc/rancher/k3s/config.yaml.d' };
    expect(remediationWritePaths(DEFAULT_REMEDIATION, k3s)).toEqual(['/etc/rancher/k3s']);
    const noTuning = ZRemediationConfig.parse({ disabledKinds: ['k3s.configureImageGC', 'k3s.configureLogRotation'] });
    expect(remediationWritePaths(noTuning, k3s)).toEqual([]);
    // Plain containerd: image removal goes through its socket, no file is written.
    expect(remediationWritePaths(DEFAULT_REMEDIATION, { dockerDataRoot: null, k3sConfigDir: null })).toEqual([]);
  });
});

describe('engineServices', () => {
  const none = () => false;
  it('orders after docker.service only where Docker is measured', () => {
    expect(engineServices({ docker: true, containerd: false, k3s: false }, none)).toEqual(['docker.service']);
    expect(engineServices({ docker: false, containerd: true, k3s: false }, none)).toEqual(['containerd.service']);
  });

  it('on k3s hosts, after the k3s units present (server or agent), else both', () => {
    const has = (names: string[]) => (n: string) => names.includes(n);
    expect(engineServices({ docker: false, containerd: true, k3s: true }, has(['k3s-agent.service']))).toEqual([
      'k3s-agent.service',
    ]);
    expect(engineServices({ docker: false, containerd: true, k3s: true }, has(['k3s.service']))).toEqual([
      'k3s.service',
    ]);
    expect(engineServices({ docker: false, containerd: true, k3s: true }, none)).toEqual([
      'k3s.service',
      'k3s-agent.service',
    ]);
    // Docker and a standalone containerd on one host.
    expect(
      engineServices({ docker: true, containerd: true, k3s: false }, has(['containerd.service', 'docker.service'])),
    ).toEqual(['docker.service', 'containerd.service']);
  });

  it('finds unit files in any of systemd unit directories under the install root', async () => {
    const root = await tempDir('units');
    dirs.push(root);
    await mkdir(path.join(root, 'etc/systemd/system'), { recursive: true });
    await mkdir(path.join(root, 'usr/lib/systemd/system'), { recursive: true });
    await writeFile(path.join(root, 'etc/systemd/system/k3s-agent.service'), '[Unit]\n');
    await writeFile(path.join(root, 'usr/lib/systemd/system/containerd.service'), '[Unit]\n');
    const exists = (n: string) => unitFileExists(root, n);
    expect(['k3s.service', 'k3s-agent.service', 'containerd.service', 'docker.service'].filter(exists)).toEqual([
      'k3s-agent.service',
      'containerd.service',
    ]);
    expect(engineServices({ docker: false, containerd: true, k3s: true }, exists)).toEqual([
      'k3s-agent.service',
      'containerd.service',
    ]);
  });
});

describe('renderUnit', () => {
  it('keeps ProtectHome=yes unless the data root is under a home tree, then read-only', () => {
    expect(lines(renderUnit({ ...base, remediation: DEFAULT_REMEDIATION }), 'ProtectHome')).toEqual([
      'ProtectHome=yes',
    ]);
    const home = renderUnit({
      ...base,
      engines: { dockerDataRoot: '/home/docker', k3sConfigDir: null },
      remediation: DEFAULT_REMEDIATION,
    });
    expect(lines(home, 'ProtectHome')).toEqual(['ProtectHome=read-only']);
    expect(lines(home, 'ReadWritePaths')).toEqual(['ReadWritePaths=-/etc/docker -/home/docker/containers']);
  });

  it('quotes paths systemd would split or expand', () => {
    const unit = renderUnit({ ...base, nodePath: '/opt/node 20/bin/node', remediation: DEFAULT_REMEDIATION });
    expect(lines(unit, 'ExecStart')).toEqual([
      'ExecStart="/opt/node 20/bin/node" --no-turbofan --max-semi-space-size=1 --expose-gc /usr/local/lib/ballast-agent/ballast-agent.mjs run --config /etc/ballast/agent.json',
    ]);
    expect(lines(unit, 'Environment')).toEqual([
      'Environment=MALLOC_ARENA_MAX=1',
      'Environment=MALLOC_MMAP_THRESHOLD_=131072',
      'Environment=MALLOC_TRIM_THRESHOLD_=131072',
    ]);
    const percent = renderUnit({ ...base, configFile: '/etc/ballast/a%b$c.json', remediation: DEFAULT_REMEDIATION });
    expect(lines(percent, 'ExecStart')[0]).toContain('"/etc/ballast/a%%b$$c.json"');
  });

  it('adds write capabilities only with write paths', () => {
    const readOnly = renderUnit({ ...base, remediation: { ...DEFAULT_REMEDIATION, enabled: false } });
    expect(lines(readOnly, 'AmbientCapabilities')).toEqual(['AmbientCapabilities=CAP_DAC_READ_SEARCH']);
    const everyWriteKindOff = renderUnit({
      ...base,
      remediation: ZRemediationConfig.parse({
        disabledKinds: ['logs.truncate', 'logs.configureRotation', 'buildCache.configureGC'],
      }),
    });
    expect(lines(everyWriteKindOff, 'AmbientCapabilities')).toEqual(['AmbientCapabilities=CAP_DAC_READ_SEARCH']);
    expect(lines(everyWriteKindOff, 'ReadWritePaths')).toEqual([]);
  });

  /** The unit of each kind of host, as `install` renders it there. */
  const hosts: Record<string, Omit<UnitOptions, 'remediation'>> = {
    docker: base,
    containerd: {
      ...base,
      engines: { dockerDataRoot: null, k3sConfigDir: null },
      after: engineServices({ docker: false, containerd: true, k3s: false }, (n) => n === 'containerd.service'),
      socketGroups: ['root'],
    },
    k3s: {
      ...base,
      engines: { dockerDataRoot: null, k3sConfigDir: '/etc/rancher/k3s/config.yaml.d' },
      after: engineServices({ docker: false, containerd: true, k3s: true }, (n) => n === 'k3s.service'),
      socketGroups: ['root'],
    },
    'k3s agent': {
      ...base,
      engines: { dockerDataRoot: null, k3sConfigDir: '/etc/rancher/k3s/config.yaml.d' },
      after: engineServices({ docker: false, containerd: true, k3s: true }, (n) => n === 'k3s-agent.service'),
      socketGroups: ['root'],
    },
  };

  it('orders after the engine each host runs, requires none, and writes only what its jobs edit', () => {
    const units = Object.fromEntries(
      Object.entries(hosts).map(([kind, o]) => [kind, renderUnit({ ...o, remediation: DEFAULT_REMEDIATION })]),
    );
    const pick = (kind: string, key: string) => lines(units[kind] ?? '', key);
    expect(pick('docker', 'After')).toEqual(['After=network-online.target docker.service']);
    expect(pick('docker', 'SupplementaryGroups')).toEqual(['SupplementaryGroups=docker']);
    expect(pick('docker', 'ReadWritePaths')).toEqual(['ReadWritePaths=-/etc/docker -/var/lib/docker/containers']);

    expect(pick('containerd', 'After')).toEqual(['After=network-online.target containerd.service']);
    expect(pick('containerd', 'SupplementaryGroups')).toEqual(['SupplementaryGroups=root']);
    expect(pick('containerd', 'ReadWritePaths')).toEqual([]);
    expect(pick('containerd', 'AmbientCapabilities')).toEqual(['AmbientCapabilities=CAP_DAC_READ_SEARCH']);

    expect(pick('k3s', 'After')).toEqual(['After=network-online.target k3s.service']);
    expect(pick('k3s agent', 'After')).toEqual(['After=network-online.target k3s-agent.service']);
    for (const kind of ['k3s', 'k3s agent']) {
      expect(pick(kind, 'ReadWritePaths')).toEqual(['ReadWritePaths=-/etc/rancher/k3s']);
      expect(pick(kind, 'SupplementaryGroups')).toEqual(['SupplementaryGroups=root']);
    }
    for (const [kind, unit] of Object.entries(units)) {
      expect(unit, kind).not.toMatch(/^(Requires|BindsTo|Requisite)=/m);
      if (kind !== 'docker') {
        expect(unit, kind).not.toMatch(/docker/i);
        expect(pick(kind, 'Description')).toEqual([
          'Description=Ballast agent: container storage inventory for a Ballast server',
        ]);
      }
    }
  });

  it('systemd-analyze verifies the unit of every host kind', async () => {
    const dir = await tempDir('unit-verify');
    dirs.push(dir);
    for (const [kind, o] of Object.entries(hosts)) {
      const file = path.join(dir, 'ballast-agent.service');
      await writeFile(file, renderUnit({ ...o, nodePath: process.execPath, remediation: DEFAULT_REMEDIATION }));
      const result = await run('systemd-analyze', ['verify', file]).then(
        ({ stderr }) => ({ code: 0, stderr }),
        (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
      );
      const aboutUnit = result.stderr
        .split('\n')
        .filter((l) => l.includes(file) || l.includes('ballast-agent.service'));
      expect({ kind, aboutUnit, code: result.code }).toEqual({ kind, aboutUnit: [], code: 0 });
    }
  });
});
