import { createHash, randomBytes } from 'node:crypto';
import { appendFile, link, mkdir, readFile, rm, truncate, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Inventory, ZInventory } from '@ballast/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blobSizes,
  readBlobJson,
  snapshotDirs,
  snapshotDu,
  startContainerd,
  type TestContainerd,
} from '../../test/containerd.js';
import { buildImage, removeLabelled } from '../../test/docker-build.js';
import {
  type DockerTestEnv,
  docker,
  dockerRuleBytes,
  duAllocated,
  requireDockerTestEnv,
  runCli,
  sh,
  tempDir,
} from '../../test/helpers.js';
import { remediation } from '../../test/jobs-helpers.js';
import { DockerClient } from '../docker/client.js';
import { parseDockerHost } from '../docker/endpoint.js';
import { DEFAULT_HOST_PATHS } from '../host.js';
import { scannerJobEnv } from '../jobs/env.js';
import { JobService } from '../jobs/service.js';
import { silentLogger } from '../log.js';
import { Scanner } from '../scanner.js';
import { StateStore } from '../state/store.js';
import { podLogsMeter, readK3s } from './k3s.js';

const LABEL = 'ballast-test=containerd';
const NS = 'k8s.io';
const IMAGES = ['ctd/base:1', 'ctd/app-a:1', 'ctd/app-b:1', 'ctd/app-c:1'] as const;
const ref = (tag: string) => `docker.io/${tag}`;

let env: DockerTestEnv;
let ctd: TestContainerd;
const dirs: string[] = [];
/** Per image tag: what the oracle reads from the filesystem and the docker CLI. */
const oracle = new Map<
  string,
  { id: string; diffIds: string[]; target: string; metaBlobs: string[]; layerBlobs: string[]; lowerDirs: string[] }
>();
let containerUpper = '';
let k3sRoot = '';
const probeUppers: string[] = [];

/** chainIDs written out here from the OCI definition, independent of the agent's helper. */
function topChainId(diffIds: string[]): string {
  let chain = diffIds[0] ?? '';
  for (const d of diffIds.slice(1)) chain = `sha256:${createHash('sha256').update(`${chain} ${d}`).digest('hex')}`;
  return chain;
}

async function scan(extraEnv: Record<string, string> = {}, args: string[] = []): Promise<Inventory> {
  const state = await tempDir('ctd-state');
  dirs.push(state);
  const run = runCli(['scan', '--json', '--state-dir', state, '--machine-id-file', '/nonexistent', ...args], {
    env: { CONTAINERD_ADDRESS: ctd.socket, CONTAINERD_NAMESPACE: NS, DOCKER_HOST: undefined, ...extraEnv },
  });
  const result = await run.done;
  if (result.code !== 0) throw new Error(`scan failed (${result.code}): ${result.stderr}`);
  return ZInventory.parse(JSON.parse(result.stdout));
}

beforeAll(async () => {
  env = requireDockerTestEnv();
  ctd = await startContainerd();
  await removeLabelled(env, LABEL);
  const labels = { 'ballast-test': 'containerd' };
  // The classic builder leaves no BuildKit cache behind on the shared test engine.
  const builder = 'classic' as const;
  await buildImage(env, {
    tag: IMAGES[0],
    dockerfile: 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\n',
    files: { busybox: { busybox: true } },
    labels,
    builder,
  });
  await buildImage(env, {
    tag: IMAGES[1],
    dockerfile: `FROM ${IMAGES[0]}\nCOPY a.bin /a.bin\nRUN ln /a.bin /a.link\n`,
    files: { 'a.bin': randomBytes(1_048_576) },
    labels,
    builder,
  });
  await buildImage(env, {
    tag: IMAGES[2],
    dockerfile: `FROM ${IMAGES[0]}\nCOPY b.bin /b.bin\n`,
    files: { 'b.bin': randomBytes(524_288) },
    labels,
    builder,
  });
  await buildImage(env, {
    tag: IMAGES[3],
    dockerfile: `FROM ${IMAGES[0]}\nCOPY c.bin /c.bin\n`,
    files: { 'c.bin': randomBytes(200_000) },
    labels,
    builder,
  });
  const work = await tempDir('ctd-save');
  dirs.push(work);
  const archive = path.join(work, 'images.tar');
  await docker(env, ['save', '-o', archive, ...IMAGES]);
  await ctd.ctr(NS, ['images', 'import', archive]);
  await ctd.ctr(NS, ['images', 'tag', ref(IMAGES[1]), 'docker.io/ctd/app-a:extra']);
  // What CRI does to the sandbox image: kubelet never removes it, neither may the agent.
  await ctd.ctr(NS, ['images', 'label', ref(IMAGES[3]), 'io.cri-containerd.pinned=pinned']);
  // k3s's air-gap directory holds an archive of base: imported at every start, never removed.
  k3sRoot = await tempDir('ctd-k3s');
  dirs.push(k3sRoot);
  await mkdir(path.join(k3sRoot, 'data/agent/images'), { recursive: true });
  await mkdir(path.join(k3sRoot, 'data/agent/containerd'), { recursive: true });
  await docker(env, ['save', '-o', path.join(k3sRoot, 'data/agent/images/base.tar'), IMAGES[0]]);
  await mkdir(path.join(k3sRoot, 'pods/kube-system_coredns-1_ab12/coredns'), { recursive: true });
  await writeFile(path.join(k3sRoot, 'pods/kube-system_coredns-1_ab12/coredns/0.log'), 'y'.repeat(12_345));

  // The image records as containerd has them: target digest per name.
  const listing = await ctd.ctr(NS, ['images', 'ls']);
  for (const tag of IMAGES) {
    const line = listing.split('\n').find((l) => l.startsWith(`${ref(tag)} `));
    const target = line?.split(/\s+/)[2];
    if (!target) throw new Error(`ctr images ls has no ${ref(tag)}:\n${listing}`);
    const manifest = await readBlobJson<{ config: { digest: string }; layers: Array<{ digest: string }> }>(ctd, target);
    const inspect = JSON.parse(await docker(env, ['image', 'inspect', tag]))[0] as {
      Id: string;
      RootFS: { Layers: string[] };
    };
    oracle.set(tag, {
      id: inspect.Id,
      diffIds: inspect.RootFS.Layers,
      target,
      metaBlobs: [target, manifest.config.digest],
      layerBlobs: manifest.layers.map((l) => l.digest),
      lowerDirs: [],
    });
  }

  // A container on app-a, with bytes in its writable layer (a file and a hard link to it).
  await ctd.ctr(NS, ['containers', 'create', ref(IMAGES[1]), 'ctd-a']);
  const cdirs = await snapshotDirs(ctd, NS, 'ctd-a');
  if (!cdirs.upper) throw new Error('no upper dir for ctd-a');
  containerUpper = cdirs.upper;
  await writeFile(path.join(containerUpper, 'data.bin'), randomBytes(300_000));
  await link(path.join(containerUpper, 'data.bin'), path.join(containerUpper, 'data.link'));
  await writeFile(path.join(containerUpper, 'small.txt'), 'ten bytes\n');
  const appA = oracle.get(IMAGES[1]);
  if (appA) appA.lowerDirs = cdirs.lower;

  // Active snapshots whose lower dirs are each image's unpacked chain. ctr labels them
  // containerd.io/gc.root; without that label (app-b's) nothing holds one: GC garbage.
  for (const tag of [IMAGES[0], IMAGES[2], IMAGES[3]]) {
    const o = oracle.get(tag);
    if (!o) continue;
    const key = `probe-${tag.replace(/[/:]/g, '-')}`;
    await ctd.ctr(NS, ['snapshots', 'prepare', key, topChainId(o.diffIds)]);
    const d = await snapshotDirs(ctd, NS, key);
    o.lowerDirs = d.lower;
    if (tag === IMAGES[2] && d.upper) probeUppers.push(d.upper);
  }
  await ctd.ctr(NS, ['leases', 'create', '--id', 'ctd-lease', '--expires', '0', 'purpose=test']);
  // One garbage collection now, synchronously (removing a spare tag with --sync), clears what
  // the imports left unreferenced; the test containerd runs none in the background (see
  // test/containerd.ts), so the state measured below stays as built.
  await ctd.ctr(NS, ['images', 'tag', ref(IMAGES[0]), 'docker.io/library/gc-trigger:1']);
  await ctd.ctr(NS, ['images', 'rm', '--sync', 'docker.io/library/gc-trigger:1']);
  // Last: once unlabelled, nothing holds the probe; only a collection a test asks for removes it.
  await ctd.ctr(NS, ['snapshots', 'label', 'probe-ctd-app-b-1', 'containerd.io/gc.root=']);
}, 300_000);

afterAll(async () => {
  await ctd?.stop();
  if (env) await removeLabelled(env, LABEL);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}, 120_000);

describe('containerd collector (real containerd, images imported from docker save)', () => {
  let inv: Inventory;
  let blobs: Map<string, number>;
  let du: Map<string, number>;

  beforeAll(async () => {
    inv = await scan();
    blobs = await blobSizes(ctd);
    du = await snapshotDu(ctd);
  });

  const duOf = (fsDir: string) => du.get(path.basename(path.dirname(fsDir))) ?? Number.NaN;

  it('reports which collector ran and why, and honours CONTAINERD_ADDRESS and CONTAINERD_NAMESPACE', () => {
    expect(inv.engine.kind).toBe('containerd');
    expect(inv.engine.imageStore).toBe('containerd');
    expect(inv.engine.measurable).toBe(true);
    expect(inv.selection?.containerd.used).toBe(true);
    expect(inv.selection?.containerd.reason).toMatch(/configured/);
    expect(inv.containerd?.address).toBe(ctd.socket);
    expect(inv.containerd?.namespace).toBe(NS);
    expect(inv.engine.dataRoot).toBe(ctd.root);
  });

  it('content-store bytes equal the st_size of every blob file', () => {
    const c = inv.containerd;
    expect(c?.contentBlobs).toBe(blobs.size);
    expect(c?.contentBytes).toBe([...blobs.values()].reduce((s, n) => s + n, 0));
    expect(Number.isInteger(c?.contentBytes)).toBe(true);
  });

  it('snapshot usage equals du -B1 of each snapshot directory', () => {
    const c = inv.containerd;
    expect(c?.snapshotCount).toBe(du.size);
    expect(c?.snapshots.map((s) => s.usageBytes).sort((a, b) => a - b)).toEqual([...du.values()].sort((a, b) => a - b));
    expect(c?.snapshotBytes).toBe([...du.values()].reduce((s, n) => s + n, 0));
  });

  it('maps images to config digests with every name, and sizes them from blobs and snapshots', () => {
    expect(inv.images).toHaveLength(4);
    for (const tag of IMAGES) {
      const o = oracle.get(tag);
      if (!o) throw new Error(tag);
      const image = inv.images.find((i) => i.id === o.id);
      expect(image, tag).toBeDefined();
      if (!image) continue;
      expect(image.repoTags).toContain(ref(tag));
      expect(image.diffIds).toEqual(o.diffIds);
      const content = [...o.metaBlobs, ...o.layerBlobs].reduce((s, d) => s + (blobs.get(d) ?? Number.NaN), 0);
      const unpacked = o.lowerDirs.reduce((s, d) => s + duOf(d), 0);
      expect(o.lowerDirs).toHaveLength(o.diffIds.length);
      expect(image.contentBytes, tag).toBe(content);
      expect(image.snapshotBytes, tag).toBe(unpacked);
      expect(image.sizeBytes, tag).toBe(content + unpacked);
      expect(image.exclusiveBytes + image.sharedBytes).toBe(image.sizeBytes);
      expect(image.labels['ballast-test']).toBe('containerd');
    }
    const appA = inv.images.find((i) => i.id === oracle.get(IMAGES[1])?.id);
    expect(appA?.repoTags).toEqual(['docker.io/ctd/app-a:1', 'docker.io/ctd/app-a:extra']);
    expect(appA?.containerIds).toEqual(['ctd-a']);
  });

  it('exclusive bytes are the blobs and snapshots no other image uses', () => {
    for (const tag of IMAGES) {
      const o = oracle.get(tag);
      if (!o) throw new Error(tag);
      const others = IMAGES.filter((t) => t !== tag).map((t) => oracle.get(t));
      const otherBlobs = new Set(others.flatMap((x) => x?.layerBlobs ?? []));
      const otherDirs = new Set(others.flatMap((x) => x?.lowerDirs ?? []));
      const exclusive =
        o.metaBlobs.reduce((s, d) => s + (blobs.get(d) ?? 0), 0) +
        o.layerBlobs.filter((d) => !otherBlobs.has(d)).reduce((s, d) => s + (blobs.get(d) ?? 0), 0) +
        o.lowerDirs.filter((d) => !otherDirs.has(d)).reduce((s, d) => s + duOf(d), 0);
      expect(inv.images.find((i) => i.id === o.id)?.exclusiveBytes, tag).toBe(exclusive);
    }
  });

  it('layers carry the compressed blob and the unpacked snapshot separately', () => {
    for (const tag of IMAGES) {
      const o = oracle.get(tag);
      if (!o) continue;
      o.diffIds.forEach((diffId, i) => {
        const layer = inv.layers.find((l) => l.diffId === diffId && l.imageIds.includes(o.id));
        expect(layer, `${tag} layer ${i}`).toBeDefined();
        expect(layer?.contentBytes).toBe(blobs.get(o.layerBlobs[i] ?? ''));
        // lowerdir lists the top layer first.
        expect(layer?.snapshotBytes).toBe(duOf(o.lowerDirs[o.lowerDirs.length - 1 - i] ?? ''));
      });
    }
  });

  it('measures the container writable layer like Docker (apparent) and du (allocated)', async () => {
    const c = inv.containers.find((x) => x.id === 'ctd-a');
    expect(c?.imageId).toBe(oracle.get(IMAGES[1])?.id);
    expect(c?.state).toBe('created');
    expect(c?.writableBytes).toBe(await dockerRuleBytes(containerUpper));
    expect(c?.writableBytes).toBe(300_010);
    expect(c?.writableAllocatedBytes).toBe(await duAllocated(containerUpper));
    const snap = inv.containerd?.snapshots.find((s) => s.key === 'ctd-a');
    expect(snap?.kind).toBe('active');
    expect(snap?.containerIds).toEqual(['ctd-a']);
    expect(snap?.usageBytes).toBe(await duAllocated(containerUpper));
  });

  it('counts the bytes held twice and what a garbage collection returns', () => {
    const c = inv.containerd;
    const layerBlobs = new Set([...oracle.values()].flatMap((o) => o.layerBlobs));
    expect(c?.dualStorage.layerBlobs).toBe(layerBlobs.size);
    expect(c?.dualStorage.layerBlobBytes).toBe([...layerBlobs].reduce((s, d) => s + (blobs.get(d) ?? 0), 0));
    const committed = new Set([...oracle.values()].flatMap((o) => o.lowerDirs));
    expect(c?.dualStorage.unpackedBytes).toBe([...committed].reduce((s, d) => s + duOf(d), 0));
    expect(c?.dualStorage.discardUnpackedLayersBytes).toBe(c?.dualStorage.layerBlobBytes);
    // Only the unlabelled probe is held by nothing; every blob is reachable from an image.
    expect(probeUppers).toHaveLength(1);
    expect(c?.gc.unreferencedSnapshots).toBe(1);
    expect(c?.gc.unreferencedSnapshotBytes).toBe(probeUppers.reduce((s, d) => s + duOf(d), 0));
    expect(c?.gc.unreferencedContentBlobs).toBe(0);
    expect(c?.snapshots.filter((s) => !s.referenced).map((s) => s.key)).toEqual(['probe-ctd-app-b-1']);
    // ctr labels the snapshots it prepares as GC roots: those stay referenced.
    expect(c?.snapshots.find((s) => s.key === 'probe-ctd-base-1')?.referenced).toBe(true);
  });

  it('lists leases', () => {
    const lease = inv.containerd?.leases.find((l) => l.id === 'ctd-lease');
    expect(lease).toMatchObject({ expired: false, resources: 0, labels: { purpose: 'test' } });
  });

  it('totals: image bytes are each blob and unpacked layer once, container bytes the writable layer', () => {
    const metaAndLayers = new Set([...oracle.values()].flatMap((o) => [...o.metaBlobs, ...o.layerBlobs]));
    const committed = new Set([...oracle.values()].flatMap((o) => o.lowerDirs));
    expect(inv.totals.imagesBytes).toBe(
      [...metaAndLayers].reduce((s, d) => s + (blobs.get(d) ?? 0), 0) + [...committed].reduce((s, d) => s + duOf(d), 0),
    );
    expect(inv.totals.containersBytes).toBe(300_010);
    expect(inv.totals.imageCount).toBe(4);
    expect(inv.totals.containerCount).toBe(1);
  });

  it('runs both collectors on one host: Docker stays the engine, containerd is reported beside it', async () => {
    const both = await scan({ DOCKER_HOST: env.host });
    expect(both.selection).toEqual({
      docker: { used: true, reason: 'Docker endpoint configured' },
      containerd: { used: true, reason: 'containerd address configured' },
    });
    expect(both.engine.kind).toBe('docker');
    expect(both.engine.imageStore).toBe('overlay2');
    // Docker's images come from the engine; containerd's figures sit beside them unchanged.
    const dockerIds = new Set(
      JSON.parse(
        await docker(env, ['image', 'ls', '-q', '--no-trunc', '--format', '{{json .ID}}']).then(
          (o) => `[${o.trim().split('\n').join(',')}]`,
        ),
      ) as string[],
    );
    expect(both.images.every((i) => dockerIds.has(i.id))).toBe(true);
    expect(both.containerd?.contentBytes).toBe(inv.containerd?.contentBytes);
    expect(both.containerd?.snapshotBytes).toBe(inv.containerd?.snapshotBytes);
  });

  it('fails clearly when the containerd socket is absent', async () => {
    const state = await tempDir('ctd-missing');
    dirs.push(state);
    const result = await runCli(['scan', '--json', '--state-dir', state, '--collector', 'containerd'], {
      env: { CONTAINERD_ADDRESS: path.join(state, 'nope.sock') },
    }).done;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/nope\.sock/);
  });
});

describe('k3s on containerd, and image removal through the job flow', () => {
  async function openJobs() {
    const state = await tempDir('ctd-jobs');
    dirs.push(state);
    const store = await StateStore.open(state, silentLogger);
    const client = new DockerClient(parseDockerHost(env.host));
    const k3sPaths = {
      dataDir: path.join(k3sRoot, 'data'),
      socket: path.join(k3sRoot, 'no.sock'),
      configFile: path.join(k3sRoot, 'config.yaml'),
      configDir: path.join(k3sRoot, 'config.yaml.d'),
      podLogsDir: path.join(k3sRoot, 'pods'),
    };
    const scanner = new Scanner({
      client,
      store,
      log: silentLogger,
      hostPaths: { ...DEFAULT_HOST_PATHS, machineIdFile: path.join(state, 'no-machine-id') },
      hostLabels: {},
      dataRootOverride: null,
      mountInfoPath: '/proc/self/mountinfo',
      docker: false,
      containerd: { address: ctd.socket, namespace: NS, k3sPaths },
    });
    const jobEnv = scannerJobEnv({
      client,
      scanner,
      docker: false,
      remediation: remediation(),
      dataRootOverride: null,
    });
    return { scanner, client, k3sPaths, jobs: new JobService(jobEnv, state) };
  }

  it('reports k3s settings and pod logs, counted as container logs', async () => {
    const { scanner, client } = await openJobs();
    try {
      const inv = await scanner.scanOnce();
      const k3s = inv.containerd?.k3s;
      expect(k3s?.kubelet.imageGCHighThresholdPercent).toEqual({ value: '85', source: 'default' });
      expect(k3s?.airgapImageFiles.map((f) => path.basename(f.path))).toEqual(['base.tar']);
      expect(k3s?.podLogs.bytes).toBe(await dockerRuleBytes(path.join(k3sRoot, 'pods')));
      expect(k3s?.podLogs.bytes).toBe(12_345);
      expect(inv.totals.containerLogsBytes).toBe(12_345);
      expect(inv.engine.loggingDriver).toBe('kubelet');
    } finally {
      client.close();
      scanner.close();
    }
  });

  it('measures pod logs every interval from stats, reading only the directories that changed', async () => {
    const { scanner, client, k3sPaths } = await openJobs();
    const pods = k3sPaths.podLogsDir;
    const live = path.join(pods, 'kube-system_coredns-1_ab12/coredns/0.log');
    const logBytes = async () => (await scanner.inventory(await scanner.cheapPass())).totals.containerLogsBytes;
    // Directories untouched for a while, as on a running node.
    const old = new Date('2026-01-01T00:00:00Z');
    const ageDirs = async () => {
      for (const d of (await sh('find', [pods, '-type', 'd'])).split('\n').filter(Boolean)) await utimes(d, old, old);
    };
    const newPod = path.join(pods, 'default_web-1_cd34');
    try {
      await ageDirs();
      expect(await logBytes()).toBe(await dockerRuleBytes(pods));
      const meter = podLogsMeter(k3sPaths);
      expect(await logBytes()).toBe(await dockerRuleBytes(pods));
      expect(meter.lastPass).toMatchObject({ dirsListed: 0, dirsReused: 3 });

      // The log grows with no directory change: the next interval sees it.
      await appendFile(live, 'z'.repeat(40_000));
      expect(await logBytes()).toBe(await dockerRuleBytes(pods));
      expect(meter.lastPass.dirsListed).toBe(0);

      // A new pod: the pods directory and the new ones are read, nothing else.
      await mkdir(path.join(newPod, 'web'), { recursive: true });
      await writeFile(path.join(newPod, 'web/0.log'), 'w'.repeat(777));
      expect(await logBytes()).toBe(await dockerRuleBytes(pods));
      expect(meter.lastPass).toMatchObject({ dirsListed: 3, dirsReused: 2 });
    } finally {
      await rm(newPod, { recursive: true, force: true });
      await truncate(live, 12_345);
      client.close();
      scanner.close();
    }
  });

  it('walks writable layers on the slow cadence only, as on Docker hosts', async () => {
    const { scanner, client } = await openJobs();
    try {
      const pass = await scanner.cheapPass();
      const before = await scanner.inventory(pass);
      expect(before.containers.find((c) => c.id === 'ctd-a')?.writableBytes).toBeNull();
      await scanner.slowPass(pass.facts);
      const after = await scanner.inventory(pass);
      expect(after.containers.find((c) => c.id === 'ctd-a')?.writableBytes).toBe(await dockerRuleBytes(containerUpper));
      expect(after.collectors.find((r) => r.name === 'containerd-writable')?.ok).toBe(true);
    } finally {
      client.close();
      scanner.close();
    }
  });

  it('images.pruneUnused skips used, pinned and air-gap images, removes the rest, and frees exactly the planned bytes', async () => {
    const { scanner, client, jobs } = await openJobs();
    try {
      const planned = await jobs.plan('ctd-prune-1', 'images.pruneUnused', {
        minAgeDays: 0,
        keepNewestTagsPerRepository: 0,
      });
      if (!planned.ok) throw new Error(planned.message);
      const plan = planned.plan;
      const id = (tag: string) => oracle.get(tag)?.id ?? '';
      expect(plan.engineId).toMatch(/^containerd:[0-9a-f-]{36}\/k8s\.io$/);
      expect(plan.items.map((i) => i.id)).toEqual([id(IMAGES[2])]);
      const reasons = new Map(plan.skipped.map((s) => [s.id, s.reason]));
      expect(reasons.get(id(IMAGES[0]))).toMatch(/air-gap/);
      expect(reasons.get(id(IMAGES[1]))).toMatch(/container/);
      expect(reasons.get(id(IMAGES[3]))).toMatch(/pinned/);

      // Oracle before: every blob's size and every snapshot directory except the unreferenced
      // probe on app-b (containerd's GC removes it in the same collection).
      const probeDir = path.basename(path.dirname(probeUppers[0] ?? ''));
      const blobsBefore = await blobSizes(ctd);
      const duBefore = await snapshotDu(ctd);
      duBefore.delete(probeDir);
      const executed = await jobs.execute(plan);
      if (!executed.ok) throw new Error(executed.message);
      expect(executed.result.status).toBe('succeeded');
      const blobsAfter = await blobSizes(ctd);
      const duAfter = await snapshotDu(ctd);
      const sum = (m: Map<string, number>) => [...m.values()].reduce((s, n) => s + n, 0);
      const freed = sum(blobsBefore) - sum(blobsAfter) + sum(duBefore) - sum(duAfter);
      expect(freed).toBe(plan.items[0]?.bytes);
      expect(executed.result.bytesFreed).toBe(freed);
      const listing = await ctd.ctr(NS, ['images', 'ls', '-q']);
      expect(listing).not.toContain(ref(IMAGES[2]));
      for (const tag of [IMAGES[0], IMAGES[1], IMAGES[3]]) expect(listing).toContain(ref(tag));

      // Re-delivery answers from the ledger without acting again.
      const again = await jobs.execute(plan);
      expect(again.ok && again.stored).toBe(true);
    } finally {
      client.close();
      scanner.close();
    }
  });

  it('k3s tuning jobs write a drop-in with a backup, keep config.yaml, and refuse when a later file overrides', async () => {
    const { scanner, client, jobs } = await openJobs();
    const configFile = path.join(k3sRoot, 'config.yaml');
    const dropIn = path.join(k3sRoot, 'config.yaml.d', '90-ballast.yaml');
    const original = 'kubelet-arg:\n  - "image-gc-high-threshold=90"\n  - "container-log-max-size=20Mi"\n';
    await writeFile(configFile, original);
    const k3sPaths = {
      dataDir: path.join(k3sRoot, 'data'),
      socket: path.join(k3sRoot, 'no.sock'),
      configFile,
      configDir: path.join(k3sRoot, 'config.yaml.d'),
      podLogsDir: path.join(k3sRoot, 'pods'),
    };
    try {
      const bad = await jobs.plan('k3s-gc-0', 'k3s.configureImageGC', {
        highThresholdPercent: 60,
        lowThresholdPercent: 70,
      });
      expect(bad.ok).toBe(false);
      const gc = await jobs.plan('k3s-gc-1', 'k3s.configureImageGC', {
        highThresholdPercent: 75,
        lowThresholdPercent: 60,
      });
      if (!gc.ok) throw new Error(gc.message);
      expect(gc.plan.configChange).toMatchObject({ path: dropIn, before: null, restartRequired: true });
      expect(gc.plan.items[0]?.note).toMatch(/image-gc-high-threshold 90 \(.*config\.yaml kubelet-arg\)/);
      const done = await jobs.execute(gc.plan);
      expect(done.ok && done.result.status).toBe('succeeded');
      let k3s = await readK3s(k3sPaths);
      expect(k3s.kubelet.imageGCHighThresholdPercent).toEqual({ value: '75', source: `${dropIn} kubelet-arg` });
      expect(k3s.kubelet.imageGCLowThresholdPercent.value).toBe('60');
      // Appended, not replaced: config.yaml's log size still applies, and the file is untouched.
      expect(k3s.kubelet.containerLogMaxSize.value).toBe('20Mi');
      expect(await readFile(configFile, 'utf8')).toBe(original);

      const firstText = await readFile(dropIn, 'utf8');
      const logs = await jobs.plan('k3s-logs-1', 'k3s.configureLogRotation', { maxSize: '50Mi', maxFiles: 3 });
      if (!logs.ok) throw new Error(logs.message);
      const done2 = await jobs.execute(logs.plan);
      expect(done2.ok && done2.result.status).toBe('succeeded');
      expect(await readFile(`${dropIn}.ballast-k3s-logs-1.bak`, 'utf8')).toBe(firstText);
      k3s = await readK3s(k3sPaths);
      expect(k3s.kubelet.containerLogMaxSize.value).toBe('50Mi');
      expect(k3s.kubelet.containerLogMaxFiles.value).toBe('3');
      expect(k3s.kubelet.imageGCHighThresholdPercent.value).toBe('75');

      // A later file replacing the list would undo the change: refused, nothing written.
      await writeFile(
        path.join(k3sRoot, 'config.yaml.d', '95-site.yaml'),
        'kubelet-arg: ["container-log-max-files=9"]\n',
      );
      const overridden = await jobs.plan('k3s-logs-2', 'k3s.configureLogRotation', { maxSize: '80Mi', maxFiles: 4 });
      expect(overridden.ok).toBe(false);
      if (!overridden.ok) expect(overridden.message).toMatch(/95-site\.yaml/);
      expect(await readFile(dropIn, 'utf8')).toContain('container-log-max-size=50Mi');
    } finally {
      await rm(configFile, { force: true });
      await rm(path.join(k3sRoot, 'config.yaml.d'), { recursive: true, force: true });
      client.close();
      scanner.close();
    }
  });

  it('refuses Docker-only job kinds on a containerd host', async () => {
    const { scanner, client, jobs } = await openJobs();
    try {
      const outcome = await jobs.plan('ctd-bc-1', 'buildCache.prune', {});
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) {
        expect(outcome.code).toBe('invalid');
        expect(outcome.message).toMatch(/containerd/);
      }
    } finally {
      client.close();
      scanner.close();
    }
  });
});
