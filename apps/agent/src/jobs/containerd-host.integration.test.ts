import { mkdir, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type AgentMessage, jobCapability, parseAgentMessage } from '@ballast/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { startContainerd, type TestContainerd } from '../../test/containerd.js';
import { sh, tempDir } from '../../test/helpers.js';
import { remediation } from '../../test/jobs-helpers.js';
import type { K3sPaths } from '../containerd/k3s.js';
import { DockerClient } from '../docker/client.js';
import { parseDockerHost } from '../docker/endpoint.js';
import { DEFAULT_HOST_PATHS } from '../host.js';
import { silentLogger } from '../log.js';
import { AgentRunner } from '../run/agent.js';
import { Spool } from '../run/spool.js';
import { Scanner } from '../scanner.js';
import { StateStore } from '../state/store.js';
import { scannerJobEnv } from './env.js';
import { JobService } from './service.js';

const NS = 'k8s.io';

let ctd: TestContainerd;
let work: string;
/** containerd's root and the pod log directory, each on a tmpfs of its own, neither on `/`. */
let storeMount: string;
let podsMount: string;
const mounts: string[] = [];

async function mountTmpfs(dir: string, size: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await sh('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  mounts.push(dir);
}

/** `df`'s Avail in bytes: the oracle for statfs free space. */
async function dfAvail(p: string): Promise<number> {
  const out = await sh('df', ['-B1', '--output=avail', p]);
  return Number(out.trim().split('\n').pop());
}

function k3sPaths(withK3s: boolean): K3sPaths | null {
  if (!withK3s) return null;
  return {
    dataDir: path.join(work, 'k3s/data'),
    socket: path.join(work, 'k3s/no.sock'),
    configFile: path.join(work, 'k3s/config.yaml'),
    configDir: path.join(work, 'k3s/config.yaml.d'),
    podLogsDir: path.join(podsMount, 'pods'),
  };
}

/** A fresh agent process on a host without Docker: nothing scanned yet. */
async function freshJobs(withK3s: boolean) {
  const state = await tempDir('ctd-host-state');
  const store = await StateStore.open(state, silentLogger);
  const client = new DockerClient(parseDockerHost('unix:///nonexistent/docker.sock'));
  const scanner = new Scanner({
    client,
    store,
    log: silentLogger,
    hostPaths: { ...DEFAULT_HOST_PATHS, machineIdFile: path.join(state, 'no-machine-id') },
    hostLabels: {},
    dataRootOverride: null,
    mountInfoPath: '/proc/self/mountinfo',
    docker: false,
    containerd: { address: ctd.socket, namespace: NS, k3sPaths: k3sPaths(withK3s) },
  });
  const env = scannerJobEnv({ client, scanner, docker: false, remediation: remediation(), dataRootOverride: null });
  return {
    state,
    scanner,
    service: new JobService(env, state),
    async close() {
      client.close();
      scanner.close();
      await rm(state, { recursive: true, force: true });
    },
  };
}

beforeAll(async () => {
  work = await tempDir('ctd-host');
  storeMount = path.join(work, 'store');
  podsMount = path.join(work, 'logs');
  await mountTmpfs(storeMount, '64m');
  await mountTmpfs(podsMount, '32m');
  await mkdir(path.join(work, 'k3s/data/agent/containerd'), { recursive: true });
  ctd = await startContainerd({ root: path.join(storeMount, 'root') });
});

afterAll(async () => {
  await ctd?.stop();
  for (const m of mounts.reverse()) await sh('umount', [m]).catch(() => '');
  if (work) await rm(work, { recursive: true, force: true });
});

describe('jobs on a containerd host without Docker', () => {
  it('hello advertises only the kinds this host can run: images through containerd, k3s tuning only with k3s', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', resolve));
    const hellos: AgentMessage[] = [];
    wss.on('connection', (socket) => {
      socket.on('message', (data) => {
        const parsed = parseAgentMessage(data.toString());
        if (parsed.ok && parsed.message.type === 'hello') hellos.push(parsed.message);
      });
    });
    const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
    const capabilities: string[][] = [];
    try {
      for (const withK3s of [false, true]) {
        const jobs = await freshJobs(withK3s);
        const runner = new AgentRunner({
          serverUrl: url,
          token: 't',
          ca: null,
          intervalSeconds: 3600,
          slowIntervalSeconds: 3600,
          scanner: jobs.scanner,
          spool: await Spool.open(jobs.state, silentLogger),
          log: silentLogger,
          jobs: { service: jobs.service, remediation: remediation() },
          firstSnapshotWaitMs: 0,
        });
        const before = hellos.length;
        runner.start();
        const deadline = Date.now() + 30_000;
        while (hellos.length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        await runner.stop();
        await jobs.close();
        const hello = hellos[before];
        capabilities.push(hello?.type === 'hello' ? hello.capabilities : []);
      }
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
    const base = ['inventory.v1', 'inventory.delta.v1', 'ingest.proceed.v1', 'jobs'];
    const images = [jobCapability('images.pruneDangling'), jobCapability('images.pruneUnused')];
    expect(capabilities[0]).toEqual([...base, ...images]);
    expect(capabilities[1]).toEqual([
      ...base,
      ...images,
      jobCapability('k3s.configureImageGC'),
      jobCapability('k3s.configureLogRotation'),
    ]);
  });

  it('refuses a kind the host cannot run, saying why', async () => {
    const jobs = await freshJobs(false);
    try {
      const outcome = await jobs.service.plan('ctd-host-k3s', 'k3s.configureImageGC', {
        highThresholdPercent: 80,
        lowThresholdPercent: 70,
      });
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) {
        expect(outcome.code).toBe('invalid');
        expect(outcome.message).toMatch(/containerd .*without k3s/);
      }
    } finally {
      await jobs.close();
    }
  });

  it("a fresh process measures free space on containerd's store, not on /, before any scan", async () => {
    const jobs = await freshJobs(true);
    try {
      expect(jobs.scanner.containerdRoot).toBeNull();
      const planned = await jobs.service.plan('ctd-host-free-1', 'images.pruneDangling', {});
      if (!planned.ok) throw new Error(planned.message);
      const storeAvail = await dfAvail(ctd.root);
      expect(planned.plan.freeBytes).toBe(storeAvail);
      // The oracle tells the two apart: the store is a 64 MiB tmpfs.
      expect(storeAvail).toBeLessThanOrEqual(64 * 1024 * 1024);
      expect(await dfAvail('/')).not.toBe(storeAvail);

      const executed = await jobs.service.execute(planned.plan);
      if (!executed.ok) throw new Error(executed.message);
      expect(executed.result.freeBytesBefore).toBe(storeAvail);
      expect(executed.result.freeBytesAfter).toBe(await dfAvail(ctd.root));

      // Image GC thresholds concern the same store; log rotation concerns the pod log directory
      // (not created yet: the filesystem it will be created on).
      const gc = await jobs.service.plan('ctd-host-free-2', 'k3s.configureImageGC', {
        highThresholdPercent: 80,
        lowThresholdPercent: 70,
      });
      if (!gc.ok) throw new Error(gc.message);
      expect(gc.plan.freeBytes).toBe(await dfAvail(ctd.root));
      const logs = await jobs.service.plan('ctd-host-free-3', 'k3s.configureLogRotation', {
        maxSize: '20Mi',
        maxFiles: 3,
      });
      if (!logs.ok) throw new Error(logs.message);
      const podsAvail = await dfAvail(podsMount);
      expect(logs.plan.freeBytes).toBe(podsAvail);
      expect(podsAvail).not.toBe(storeAvail);
    } finally {
      await jobs.close();
    }
  });
});
