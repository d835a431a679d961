import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dockerRuleBytes, duAllocated, tempDir } from '../../test/helpers.js';
import { type K3sPaths, k3sPresent, parseKubeletArgs, readK3s } from './k3s.js';
import { CONTAINERD_SOCKET, K3S_CONTAINERD_SOCKET, selectCollectors } from './select.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function k3sTree(): Promise<K3sPaths> {
  const root = await tempDir('k3s');
  dirs.push(root);
  const paths: K3sPaths = {
    dataDir: path.join(root, 'var/lib/rancher/k3s'),
    socket: path.join(root, 'run/k3s/containerd/containerd.sock'),
    configFile: path.join(root, 'etc/rancher/k3s/config.yaml'),
    configDir: path.join(root, 'etc/rancher/k3s/config.yaml.d'),
    podLogsDir: path.join(root, 'var/log/pods'),
  };
  await mkdir(path.join(paths.dataDir, 'agent/containerd'), { recursive: true });
  await mkdir(path.join(paths.dataDir, 'agent/images'), { recursive: true });
  await mkdir(paths.configDir, { recursive: true });
  await writeFile(
    paths.configFile,
    [
      'write-kubeconfig-mode: "0644"',
      'kubelet-arg:',
      '  - "image-gc-high-threshold=90"',
      '  - image-gc-low-threshold=70   # keep room',
      '',
      "  - 'container-log-max-size=50Mi'",
      'node-label:',
      '  - "a=b"',
      '',
    ].join('\n'),
  );
  await writeFile(
    path.join(paths.configDir, '20-logs.yaml'),
    'kubelet-arg+: ["container-log-max-files=3", "image-gc-high-threshold=95"]\n',
  );
  await writeFile(path.join(paths.configDir, '30-broken.yaml'), 'kubelet-arg: ["minimum-image-ttl-duration=5m",\n');
  await writeFile(path.join(paths.configDir, 'notes.txt'), 'kubelet-arg: ["container-log-max-files=9"]\n');
  await writeFile(path.join(paths.dataDir, 'agent/images/airgap.tar'), Buffer.alloc(1234, 1));
  const pod = path.join(paths.podLogsDir, 'default_web-1_0f6c/app');
  await mkdir(pod, { recursive: true });
  await writeFile(path.join(pod, '0.log'), 'x'.repeat(70_000));
  await writeFile(path.join(pod, '0.log.20260101-000000.gz'), Buffer.alloc(5_000, 7));
  return paths;
}

describe('k3s configuration and pod logs', () => {
  it('reads kubelet-arg in block and flow form, kubelet-arg+ appends, broken files are reported', async () => {
    const paths = await k3sTree();
    expect(k3sPresent(paths)).toBe(true);
    const k3s = await readK3s(paths);
    expect(k3s.configFiles).toEqual([
      paths.configFile,
      path.join(paths.configDir, '20-logs.yaml'),
      path.join(paths.configDir, '30-broken.yaml'),
    ]);
    expect(k3s.kubelet.imageGCHighThresholdPercent).toEqual({
      value: '95',
      source: `${path.join(paths.configDir, '20-logs.yaml')} kubelet-arg`,
    });
    expect(k3s.kubelet.imageGCLowThresholdPercent.value).toBe('70');
    expect(k3s.kubelet.containerLogMaxSize.value).toBe('50Mi');
    expect(k3s.kubelet.containerLogMaxFiles.value).toBe('3');
    // Not set anywhere readable: kubelet's default, said so.
    expect(k3s.kubelet.imageMinimumGCAge).toEqual({ value: '2m0s', source: 'default' });
    expect(k3s.configErrors).toHaveLength(1);
    expect(k3s.configErrors[0]).toMatch(/30-broken\.yaml:1/);
    expect(k3s.airgapImageFiles).toEqual([{ path: path.join(paths.dataDir, 'agent/images/airgap.tar'), bytes: 1234 }]);
    expect(k3s.socket).toBeNull();
  });

  it('measures /var/log/pods like du (allocated) and Docker (apparent)', async () => {
    const paths = await k3sTree();
    const k3s = await readK3s(paths);
    expect(k3s.podLogs.measured).toBe(true);
    expect(k3s.podLogs.files).toBe(2);
    expect(k3s.podLogs.bytes).toBe(await dockerRuleBytes(paths.podLogsDir));
    expect(k3s.podLogs.bytes).toBe(75_000);
    expect(k3s.podLogs.allocatedBytes).toBe(await duAllocated(paths.podLogsDir));
  });

  it('parses a scalar kubelet-arg and ignores other keys', () => {
    expect(parseKubeletArgs('kubelet-arg: "container-log-max-size=5Mi"\nfoo: bar\n', 'f')).toEqual([
      { append: false, args: ['container-log-max-size=5Mi'] },
    ]);
    expect(parseKubeletArgs('server-arg:\n  - "x=1"\n', 'f')).toEqual([]);
  });

  it('a later file with kubelet-arg (no +) replaces the earlier list, as k3s merges its files', async () => {
    const paths = await k3sTree();
    await writeFile(path.join(paths.configDir, '40-replace.yaml'), 'kubelet-arg:\n  - "container-log-max-files=7"\n');
    const k3s = await readK3s(paths);
    expect(k3s.kubelet.containerLogMaxFiles.value).toBe('7');
    // config.yaml's and 20-logs.yaml's values are gone: kubelet runs with its defaults there.
    expect(k3s.kubelet.imageGCHighThresholdPercent).toEqual({ value: '85', source: 'default' });
    expect(k3s.kubelet.containerLogMaxSize).toEqual({ value: '10Mi', source: 'default' });
  });
});

describe('collector selection', () => {
  const has =
    (...paths: string[]) =>
    (p: string) =>
      paths.includes(p);
  const base = {
    dockerExplicit: false,
    dockerSocket: '/var/run/docker.sock',
    containerdAddress: null,
    containerdNamespace: null,
  };

  it('auto picks what the host has: Docker alone, k3s alone, both', () => {
    const dockerOnly = selectCollectors({ ...base, mode: 'auto', exists: has('/var/run/docker.sock') });
    expect([dockerOnly.docker.used, dockerOnly.containerd.used]).toEqual([true, false]);
    const k3s = selectCollectors({ ...base, mode: 'auto', exists: has(K3S_CONTAINERD_SOCKET) });
    expect([k3s.docker.used, k3s.containerd.used]).toEqual([false, true]);
    expect(k3s.containerd).toMatchObject({
      address: K3S_CONTAINERD_SOCKET,
      namespace: 'k8s.io',
      onlyForDockerStore: false,
    });
    const both = selectCollectors({
      ...base,
      mode: 'auto',
      exists: has('/var/run/docker.sock', K3S_CONTAINERD_SOCKET),
    });
    expect([both.docker.used, both.containerd.used]).toEqual([true, true]);
  });

  it("Docker's own containerd socket is measured only when Docker keeps its images there", () => {
    const s = selectCollectors({ ...base, mode: 'auto', exists: has('/var/run/docker.sock', CONTAINERD_SOCKET) });
    expect(s.containerd).toMatchObject({
      used: true,
      onlyForDockerStore: true,
      namespace: null,
      address: CONTAINERD_SOCKET,
    });
  });

  it('explicit configuration overrides what is found', () => {
    const s = selectCollectors({
      ...base,
      mode: 'auto',
      containerdAddress: 'unix:///tmp/c.sock',
      containerdNamespace: 'moby',
      exists: has(),
    });
    expect(s.docker.used).toBe(false);
    expect(s.containerd).toMatchObject({
      used: true,
      address: '/tmp/c.sock',
      namespace: 'moby',
      onlyForDockerStore: false,
    });
    const dockerOnly = selectCollectors({ ...base, mode: 'docker', exists: has(K3S_CONTAINERD_SOCKET) });
    expect([dockerOnly.docker.used, dockerOnly.containerd.used]).toEqual([true, false]);
  });
});
