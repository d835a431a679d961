import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type Inventory, ZInventory } from '@ballast/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  curlJson,
  type DockerTestEnv,
  docker,
  dockerRuleBytes,
  duAllocated,
  duKiB,
  requireDockerTestEnv,
  sh,
  tempDir,
} from '../test/helpers.js';
import { DockerClient } from './docker/client.js';
import { parseDockerHost } from './docker/endpoint.js';
import { DEFAULT_HOST_PATHS } from './host.js';
import { silentLogger } from './log.js';
import { Scanner } from './scanner.js';
import { STATE_FILE, StateStore } from './state/store.js';

/*
 * Every figure of a scan of the fixture state (test/fixtures/make-docker-state.sh) against
 * an oracle that shares no code with the agent: raw Engine API answers through curl
 * (`/system/df`, `?size=1`), the docker CLI, du, stat, df and sha256sum.
 */

interface DfImage {
  Id: string;
  Size: number;
  SharedSize: number;
  Containers: number;
}
interface DfContainer {
  Id: string;
  SizeRw?: number;
}
interface DfVolume {
  Name: string;
  UsageData: { Size: number; RefCount: number };
}
interface DfBuildRecord {
  Size: number;
  Shared: boolean;
  InUse: boolean;
}
interface SystemDf {
  LayersSize: number;
  Images: DfImage[];
  Containers: DfContainer[];
  Volumes: DfVolume[];
  BuildCache: DfBuildRecord[] | null;
}

/** The size-bearing part of a df answer (its Status strings change every second). */
function sizesOf(d: SystemDf): string {
  return JSON.stringify([
    d.LayersSize,
    d.Images.map((i) => [i.Id, i.Size, i.SharedSize, i.Containers]),
    d.Containers.map((c) => [c.Id, c.SizeRw ?? 0]),
    d.Volumes.map((v) => [v.Name, v.UsageData.Size, v.UsageData.RefCount]),
    (d.BuildCache ?? []).map((r) => [r.Size, r.Shared, r.InUse]),
  ]);
}

let env: DockerTestEnv;
let stateDir: string;
let inventory: Inventory;
let df: SystemDf;
let scanStarted: Date;
let scanEnded: Date;

function openScanner(dir: string) {
  const client = new DockerClient(parseDockerHost(env.host));
  return StateStore.open(dir, silentLogger).then((store) => ({
    client,
    scanner: new Scanner({
      client,
      store,
      log: silentLogger,
      hostPaths: DEFAULT_HOST_PATHS,
      hostLabels: { suite: 'integration' },
      dataRootOverride: null,
      mountInfoPath: '/proc/self/mountinfo',
    }),
  }));
}

async function scan(dir: string): Promise<Inventory> {
  const { client, scanner } = await openScanner(dir);
  try {
    return await scanner.scanOnce();
  } finally {
    client.close();
  }
}

const api = (p: string) => `/v1.41${p}`;
const byName = (name: string) => {
  const c = inventory.containers.find((x) => x.name === name);
  if (!c) throw new Error(`fixture container ${name} missing: rebuild the fixture state`);
  return c;
};
const byTag = (tag: string) => {
  const i = inventory.images.find((x) => x.repoTags.includes(tag));
  if (!i) throw new Error(`fixture image ${tag} missing: rebuild the fixture state`);
  return i;
};

beforeAll(async () => {
  env = requireDockerTestEnv();
  // The engine is shared; retry until the sizes /system/df reports are the same before and after the scan.
  for (let attempt = 0; ; attempt += 1) {
    stateDir = path.join(await tempDir('scan-state'), 'state');
    const before = await curlJson<SystemDf>(env, api('/system/df'));
    scanStarted = new Date();
    inventory = await scan(stateDir);
    scanEnded = new Date();
    df = await curlJson<SystemDf>(env, api('/system/df'));
    if (sizesOf(before) === sizesOf(df) || attempt === 2) break;
    await sh('rm', ['-rf', path.dirname(stateDir)]);
  }
  if (!inventory.images.some((i) => i.repoTags.includes('fx/base:1'))) {
    throw new Error(
      'the fixture state is missing: run apps/agent/test/fixtures/make-docker-state.sh against the test engine',
    );
  }
});

afterAll(async () => {
  if (stateDir) await sh('rm', ['-rf', path.dirname(stateDir)]);
});

describe('scan of the fixture state', () => {
  it('validates against the shared inventory schema, every collector succeeding', () => {
    expect(ZInventory.safeParse(inventory).success).toBe(true);
    expect(inventory.collectors.filter((c) => !c.ok)).toEqual([]);
    expect(inventory.collectors.map((c) => c.name)).toEqual([
      'engine',
      'filesystem',
      'containers',
      'volumes',
      'layers',
      'images',
      'layer-usage',
      'container-usage',
      'volume-usage',
      'build-cache',
      'data-root',
    ]);
  });

  it('describes the engine as `docker info` and `docker version` do', async () => {
    const info = JSON.parse(await docker(env, ['info', '--format', '{{json .}}'])) as Record<string, unknown>;
    const version = JSON.parse(await docker(env, ['version', '--format', '{{json .Server}}'])) as Record<
      string,
      string
    >;
    expect(inventory.engine).toMatchObject({
      version: version.Version,
      apiVersion: version.ApiVersion,
      minApiVersion: version.MinAPIVersion,
      // The agent speaks up to 1.47; older engines get their own newest version.
      negotiatedApiVersion: Number(version.ApiVersion?.split('.')[1]) > 47 ? '1.47' : version.ApiVersion,
      storageDriver: info.Driver,
      dataRoot: info.DockerRootDir,
      loggingDriver: info.LoggingDriver,
      imageStore: 'overlay2',
      measurable: true,
      unsupportedReason: null,
    });
    expect(inventory.engine.dataRoot).toBe(env.dataRoot);
  });

  it('measures the filesystem like df', async () => {
    const [line] = (
      await sh('df', ['-B1', '--output=size,used,avail,itotal,iavail,target,fstype,source', env.dataRoot])
    )
      .trim()
      .split('\n')
      .slice(1);
    const [size, used, avail, itotal, iavail, target, fstype, source] = (line ?? '').trim().split(/\s+/);
    const fs = inventory.filesystem;
    expect(fs).not.toBeNull();
    expect(fs?.sizeBytes).toBe(Number(size));
    expect(fs?.inodesTotal).toBe(Number(itotal));
    // Used/free move while other processes write to the same filesystem.
    const drift = 256 * 1024 * 1024;
    expect(Math.abs((fs?.usedBytes ?? 0) - Number(used))).toBeLessThan(drift);
    expect(Math.abs((fs?.freeBytes ?? 0) - Number(avail))).toBeLessThan(drift);
    expect(Math.abs((fs?.inodesFree ?? 0) - Number(iavail))).toBeLessThan(100_000);
    expect(fs).toMatchObject({ mountPoint: target, fsType: fstype, device: source });
  });

  it('lists the top-level images docker lists, with dangling per `--filter dangling=true`', async () => {
    const topLevel = new Set((await docker(env, ['images', '-q', '--no-trunc'])).trim().split('\n'));
    const dangling = new Set(
      (await docker(env, ['images', '-q', '--no-trunc', '--filter', 'dangling=true']))
        .trim()
        .split('\n')
        .filter(Boolean),
    );
    expect(new Set(inventory.images.map((i) => i.id))).toEqual(topLevel);
    expect(new Set(inventory.images.filter((i) => i.dangling).map((i) => i.id))).toEqual(dangling);
    expect(dangling.size).toBe(2);
    expect(inventory.totals.imageCount).toBe(topLevel.size);
  });

  it('computes chainIDs as sha256sum does, each one present in the layerdb', async () => {
    for (const image of inventory.images) {
      const diffIds = JSON.parse(
        await docker(env, ['image', 'inspect', '-f', '{{json .RootFS.Layers}}', image.id]),
      ) as string[];
      expect(image.diffIds).toEqual(diffIds);
      const oracle = await sh('sh', [
        '-c',
        'c=$1; shift; echo "$c"; for x in "$@"; do c="sha256:$(printf "%s %s" "$c" "$x" | sha256sum | cut -d" " -f1)"; echo "$c"; done',
        'sh',
        ...diffIds,
      ]);
      expect(image.chainIds).toEqual(oracle.trim().split('\n'));
      for (const chainId of image.chainIds) {
        const dir = path.join(env.dataRoot, 'image/overlay2/layerdb/sha256', chainId.slice('sha256:'.length));
        expect((await sh('cat', [path.join(dir, 'diff')])).trim()).toBe(image.diffIds[image.chainIds.indexOf(chainId)]);
      }
    }
  });

  it("sizes images as /system/df does; exclusive equals Docker's unique size on this fixture", () => {
    // Docker counts sharing among top-level images only. The agent also counts intermediate
    // parents and containers of other images as users, except the unreferenced parents
    // `docker rmi` deletes together with the image, so fx/legacy (whose layers its own
    // intermediates share) still frees its 2.5 MB. No fixture layer is shared with an
    // intermediate of another image or an orphaned container, so here the two rules agree;
    // sharing.test.ts covers the cases where they differ.
    expect(df.Images.length).toBe(inventory.images.length);
    for (const d of df.Images) {
      const image = inventory.images.find((i) => i.id === d.Id);
      expect(image, d.Id).toBeDefined();
      expect(image?.sizeBytes, d.Id).toBe(d.Size);
      expect(image?.exclusiveBytes, d.Id).toBe(d.Size - d.SharedSize);
      expect(image?.sharedBytes, d.Id).toBe(d.SharedSize);
      expect(image?.containerIds.length, d.Id).toBe(d.Containers);
    }
    expect(byTag('fx/legacy:1').exclusiveBytes).toBe(byTag('fx/legacy:1').sizeBytes);
    expect(byTag('fx/base:1').exclusiveBytes).toBe(0);
  });

  it('sums images to LayersSize', () => {
    expect(inventory.totals.imagesBytes).toBe(df.LayersSize);
  });

  it('reports every layerdb layer with its recorded size and du/find-measured diff dir', async () => {
    const layerdb = path.join(env.dataRoot, 'image/overlay2/layerdb/sha256');
    const onDisk = (await sh('ls', [layerdb])).trim().split('\n');
    expect(inventory.layers.map((l) => l.chainId.slice(7)).sort()).toEqual(onDisk.sort());
    for (const layer of inventory.layers) {
      const dir = path.join(layerdb, layer.chainId.slice(7));
      expect(layer.sizeBytes).toBe(Number(await sh('cat', [path.join(dir, 'size')])));
      expect(layer.cacheId).toBe((await sh('cat', [path.join(dir, 'cache-id')])).trim());
      const diff = path.join(env.dataRoot, 'overlay2', layer.cacheId ?? '', 'diff');
      expect(layer.allocatedBytes, layer.chainId).toBe(await duAllocated(diff));
      expect(layer.apparentBytes, layer.chainId).toBe(await dockerRuleBytes(diff));
    }
    const legacyLayers = inventory.layers.filter((l) => l.imageIds.includes(byTag('fx/legacy:1').id));
    expect(legacyLayers).toHaveLength(3);
  });

  it("measures each writable layer exactly as dockerd's SizeRw, and allocated as du", async () => {
    const sized = await curlJson<DfContainer[]>(env, api('/containers/json?all=1&size=1'));
    expect(inventory.containers.length).toBe(sized.length);
    for (const s of sized) {
      const c = inventory.containers.find((x) => x.id === s.Id);
      // SizeRw is omitted from the JSON when it is 0.
      expect(c?.writableBytes, s.Id).toBe(s.SizeRw ?? 0);
      const upper = (await docker(env, ['inspect', '-f', '{{.GraphDriver.Data.UpperDir}}', s.Id])).trim();
      expect(c?.writableAllocatedBytes, s.Id).toBe(await duAllocated(upper));
      expect(c?.writableAllocatedBytes, s.Id).toBe(await duKiB(upper));
    }
    const sumSizeRw = df.Containers.reduce((sum, c) => sum + (c.SizeRw ?? 0), 0);
    expect(inventory.totals.containersBytes).toBe(sumSizeRw);
    // 20,000 small files: ~109 kB by Docker's count, ~80 MB of blocks.
    const many = byName('fx-manyfiles');
    expect(many.writableBytes).toBeLessThan(200_000);
    expect(many.writableAllocatedBytes).toBeGreaterThan(70_000_000);
    expect(inventory.totals.containerCount).toBe(sized.length);
  });

  it('finds every log file, rotated and compressed ones included, sized by stat', async () => {
    let total = 0;
    for (const c of inventory.containers) {
      const dir = path.join(env.dataRoot, 'containers', c.id);
      const out = await sh('sh', [
        '-c',
        'cd "$1" && for f in "$2"-json.log* local-logs/container.log*; do [ -f "$f" ] && stat -c "%n %s %b %B" "$f"; done; true',
        'sh',
        dir,
        c.id,
      ]);
      const expected = out
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [name, bytes, blocks, unit] = line.split(' ');
          return {
            path: path.join(dir, name ?? ''),
            bytes: Number(bytes),
            allocatedBytes: Number(blocks) * Number(unit),
          };
        });
      expect(
        c.logFiles.map(({ path: p, bytes, allocatedBytes }) => ({ path: p, bytes, allocatedBytes })),
        c.name,
      ).toEqual(expected.sort((a, b) => a.path.localeCompare(b.path)));
      expect(c.logBytes).toBe(expected.reduce((s, f) => s + f.bytes, 0));
      total += c.logBytes;
    }
    expect(inventory.totals.containerLogsBytes).toBe(total);

    const rotlog = byName('fx-rotlog');
    expect(rotlog.logFiles.map((f) => path.basename(f.path))).toEqual([
      `${rotlog.id}-json.log`,
      `${rotlog.id}-json.log.1`,
      `${rotlog.id}-json.log.2`,
    ]);
    expect(rotlog.logRotation).toBe(true);
    const rotgz = byName('fx-rotgz');
    expect(rotgz.logFiles.filter((f) => f.compressed)).toHaveLength(3);
    expect(rotgz.logFiles).toHaveLength(4);
    const local = byName('fx-local');
    expect(local.logDriver).toBe('local');
    expect(local.logRotation).toBe(true);
    expect(local.logFiles.map((f) => path.relative(path.join(env.dataRoot, 'containers', local.id), f.path))).toEqual([
      'local-logs/container.log',
      'local-logs/container.log.1.gz',
      'local-logs/container.log.2.gz',
    ]);
    expect(byName('fx-biglog')).toMatchObject({ logRotation: false, logDriver: 'json-file' });
    expect(byName('fx-biglog').logBytes).toBeGreaterThan(40_000_000);
    expect(byName('fx-created')).toMatchObject({ state: 'created', logFiles: [], startedAt: null, finishedAt: null });
  });

  it('reports container states, times and images as docker inspect does', async () => {
    for (const c of inventory.containers) {
      const [state, started, image] = (
        await docker(env, ['inspect', '-f', '{{.State.Status}} {{.State.StartedAt}} {{.Image}}', c.id])
      )
        .trim()
        .split(' ');
      expect(c.state).toBe(state);
      expect(c.imageId).toBe(image);
      if (started?.startsWith('0001-')) expect(c.startedAt).toBeNull();
      else expect(Date.parse(c.startedAt ?? '')).toBe(Date.parse(started ?? ''));
    }
    expect(byName('fx-running')).toMatchObject({ state: 'running', volumeNames: ['fx-used'] });
    expect(byName('fx-stale').imageId).toBe(inventory.images.find((i) => i.dangling && i.containerIds.length > 0)?.id);
  });

  it("sizes volumes as /system/df does, with du's allocated bytes and their users", async () => {
    expect(inventory.volumes.length).toBe(df.Volumes.length);
    for (const d of df.Volumes) {
      const v = inventory.volumes.find((x) => x.name === d.Name);
      expect(v?.sizeBytes, d.Name).toBe(d.UsageData.Size);
      expect(v?.containerIds.length, d.Name).toBe(d.UsageData.RefCount);
      const mountpoint = (await docker(env, ['volume', 'inspect', '-f', '{{.Mountpoint}}', d.Name])).trim();
      expect(v?.mountpoint).toBe(mountpoint);
      expect(v?.allocatedBytes, d.Name).toBe(await duAllocated(mountpoint));
    }
    expect(inventory.totals.volumesBytes).toBe(df.Volumes.reduce((s, v) => s + Math.max(0, v.UsageData.Size), 0));
    expect(inventory.volumes.find((v) => v.name === 'fx-used')?.containerIds).toEqual([byName('fx-running').id]);
    const anonymous = inventory.volumes.filter((v) => v.anonymous).map((v) => v.name);
    expect(anonymous).toHaveLength(1);
    expect(anonymous[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(inventory.volumes.some((v) => v.buildkitState)).toBe(false);
  });

  it('totals the build cache as `docker system df` does', () => {
    const records = df.BuildCache ?? [];
    const unshared = records.filter((r) => !r.Shared);
    const total = unshared.reduce((s, r) => s + r.Size, 0);
    const inUse = unshared.filter((r) => r.InUse).reduce((s, r) => s + r.Size, 0);
    expect(inventory.buildCache).toMatchObject({
      measured: true,
      records: records.length,
      totalBytes: total,
      inUseBytes: inUse,
      reclaimableBytes: total - inUse,
      sharedBytes: records.filter((r) => r.Shared).reduce((s, r) => s + r.Size, 0),
    });
    expect(inventory.totals.buildCacheBytes).toBe(total);
    expect(records.length).toBeGreaterThan(0);
  });

  it('marks BuildKit-built images as held by build cache, classic-built ones not', () => {
    expect(byTag('fx/app-a:1').buildCacheHeld).toBe(true);
    expect(byTag('fx/legacy:1').buildCacheHeld).toBe(false);
  });

  it('leaves as unattributed exactly what du -x finds outside the attributed parts', async () => {
    let attributed = 0;
    for (const l of inventory.layers)
      attributed += await duAllocated(path.join(env.dataRoot, 'overlay2', l.cacheId ?? '', 'diff'));
    for (const c of inventory.containers) {
      const upper = (await docker(env, ['inspect', '-f', '{{.GraphDriver.Data.UpperDir}}', c.id])).trim();
      attributed += await duAllocated(upper);
      attributed += await duAllocated(path.join(`${path.dirname(upper)}-init`, 'diff'));
      attributed += c.logAllocatedBytes;
    }
    for (const v of inventory.volumes) attributed += await duAllocated(v.mountpoint);
    const total = await duAllocated(env.dataRoot, true);
    // dockerd and containerd touch their databases now and then; allow a few blocks.
    expect(Math.abs((inventory.totals.unattributedBytes ?? -1) - (total - attributed))).toBeLessThanOrEqual(64 * 1024);
    expect(inventory.totals.unattributedBytes).toBeGreaterThan(0);
  });

  it("keeps the agent's own last-used clock and carries it across restarts", async () => {
    const running = byTag('fx/app-a:1');
    const stoppedOnly = byTag('fx/app-b:1');
    const unused = byTag('fx/legacy:1');
    const within = (iso: string | null, from: Date, to: Date) => {
      const t = Date.parse(iso ?? '');
      return t >= from.getTime() && t <= to.getTime();
    };
    expect(within(running.lastUsedAt, scanStarted, scanEnded)).toBe(true);
    expect(within(stoppedOnly.lastUsedAt, scanStarted, scanEnded)).toBe(true);
    expect(unused.lastUsedAt).toBeNull();

    const secondStart = new Date();
    const second = await scan(stateDir);
    const find = (id: string) => second.images.find((i) => i.id === id);
    expect(find(stoppedOnly.id)?.lastUsedAt).toBe(stoppedOnly.lastUsedAt);
    expect(within(find(running.id)?.lastUsedAt ?? null, secondStart, new Date())).toBe(true);
    expect(find(unused.id)?.lastUsedAt).toBeNull();
    // Layer walks were persisted, one entry per walked layer with its cache ID and figures, and
    // the second scan reports the same sizes from them.
    const persisted = (
      JSON.parse(await readFile(path.join(stateDir, STATE_FILE), 'utf8')) as {
        layerUsage: Record<string, { cacheId: string; apparentBytes: number; allocatedBytes: number }>;
      }
    ).layerUsage;
    const walked = inventory.layers.filter((l) => l.cacheId !== null);
    expect(Object.keys(persisted).sort()).toEqual(walked.map((l) => l.chainId).sort());
    for (const l of walked) {
      expect(persisted[l.chainId]).toMatchObject({
        cacheId: l.cacheId,
        apparentBytes: l.apparentBytes,
        allocatedBytes: l.allocatedBytes,
      });
    }
    expect(second.layers).toEqual(inventory.layers);
    expect(second.host.machineId).toBe(inventory.host.machineId);
  });
});
