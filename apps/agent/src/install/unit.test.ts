import { describe, expect, it } from 'vitest';
import { DEFAULT_REMEDIATION, ZRemediationConfig } from '../config/file.js';
import { remediationWritePaths, renderUnit } from './unit.js';

const base = {
  nodePath: '/usr/bin/node',
  bundleFile: '/usr/local/lib/ballast-agent/ballast-agent.mjs',
  configFile: '/etc/ballast/agent.json',
  dataRoot: '/var/lib/docker',
  dockerGroup: 'docker',
};
const lines = (unit: string, key: string) => unit.split('\n').filter((l) => l.startsWith(`${key}=`));

describe('remediationWritePaths', () => {
  it('is empty when remediation is disabled, whatever else the policy says', () => {
    expect(remediationWritePaths({ ...DEFAULT_REMEDIATION, enabled: false }, '/var/lib/docker')).toEqual([]);
  });

  it('follows the kinds left enabled and the configured daemon.json', () => {
    const policy = (over: object) => ZRemediationConfig.parse({ ...over });
    expect(remediationWritePaths(policy({}), '/srv/docker')).toEqual(['/etc/docker', '/srv/docker/containers']);
    expect(remediationWritePaths(policy({ disabledKinds: ['logs.truncate'] }), '/srv/docker')).toEqual(['/etc/docker']);
    expect(
      remediationWritePaths(
        policy({ disabledKinds: ['logs.configureRotation', 'buildCache.configureGC'] }),
        '/srv/docker',
      ),
    ).toEqual(['/srv/docker/containers']);
    expect(remediationWritePaths(policy({ daemonConfigFile: '/opt/docker/conf/daemon.json' }), '/d')).toEqual([
      '/opt/docker/conf',
      '/d/containers',
    ]);
  });
});

describe('renderUnit', () => {
  it('keeps ProtectHome=yes unless the data root is under a home tree, then read-only', () => {
    expect(lines(renderUnit({ ...base, remediation: DEFAULT_REMEDIATION }), 'ProtectHome')).toEqual([
      'ProtectHome=yes',
    ]);
    const home = renderUnit({ ...base, dataRoot: '/home/docker', remediation: DEFAULT_REMEDIATION });
    expect(lines(home, 'ProtectHome')).toEqual(['ProtectHome=read-only']);
    expect(lines(home, 'ReadWritePaths')).toEqual(['ReadWritePaths=-/etc/docker -/home/docker/containers']);
  });

  it('quotes paths systemd would split or expand', () => {
    const unit = renderUnit({ ...base, nodePath: '/opt/node 20/bin/node', remediation: DEFAULT_REMEDIATION });
    expect(lines(unit, 'ExecStart')).toEqual([
      'ExecStart="/opt/node 20/bin/node" /usr/local/lib/ballast-agent/ballast-agent.mjs run --config /etc/ballast/agent.json',
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
});
