// Simulated agent inventories for the ingest bench: realistic sizes, deterministic, drifting.
import { createHash } from 'node:crypto';
import type { Inventory, InventoryDelta } from '@ballast/shared';
import { makeSampleInventory } from '@ballast/shared/sample-inventory';

const POOL = 1_000;
const DAY_MS = 86_400_000;

// Hashes are memoized: thousands of simulated agents draw from one image pool, and hashing
// would otherwise be most of the simulator's CPU (it shares the machine with the server).
const memo = new Map<string, string>();
const hex64 = (s: string) => {
  let h = memo.get(s);
  if (h === undefined) {
    if (memo.size > 400_000) memo.clear();
    h = createHash('sha256').update(s).digest('hex');
    memo.set(s, h);
  }
  return h;
};
const sha = (s: string) => `sha256:${hex64(s)}`;
/** Image creation and exit times are fixed in the past, so only what drifts changes between snapshots. */
const EPOCH_MS = Date.UTC(2026, 0, 1);

function rand(a: number, b: number): number {
  let x = (a * 374_761_393 + b * 668_265_263) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 1_274_126_177) >>> 0;
  return ((x ^ (x >>> 16)) >>> 0) / 2 ** 32;
}

/** Agent i's image count: 100 to 400, spread over the fleet. */
export const imagesOf = (i: number) => 100 + Math.floor(rand(i, 7) * 301);

interface Pick {
  p: number;
  build: number;
}
const BASES = Array.from({ length: 10 }, (_, b) => ({ id: sha(`base-${b}`), bytes: 50_000_000 + b * 1_000_000 }));
const imageId = (x: Pick) => sha(`image-${x.p}-${x.build}`);
const ownLayer = (x: Pick) => sha(`layer-${x.p}-${x.build}`);
const ownBytes = (x: Pick) => 1_000_000 + Math.floor(rand(x.p, x.build) * 400_000_000);
const baseOf = (x: Pick) => BASES[x.p % 10] as { id: string; bytes: number };

/** Agent i's images at generation `gen`: picks from the shared pool, each rebuilt every 50 generations. */
function picksOf(i: number, gen: number): Pick[] {
  return Array.from({ length: imagesOf(i) }, (_, k) => ({ p: (i * 13 + k) % POOL, build: Math.floor((gen + k) / 50) }));
}

/** The first 20 picks run a container each, the next 10 have an exited one. */
const RUNNING = 20;
const USED = 30;
const runningId = (i: number, x: Pick) => hex64(`ctr-${i}-${x.p}`);
const exitedId = (i: number, x: Pick) => hex64(`exited-${i}-${x.p}`);

function imageFor(i: number, picks: Pick[], k: number, now: Date): Inventory['images'][number] {
  const x = picks[k] as Pick;
  const base = baseOf(x);
  // Pool positions are distinct within an agent, so only pick k's own container uses image k.
  const users = k < RUNNING ? [runningId(i, x)] : k < USED ? [exitedId(i, x)] : [];
  const created = new Date(EPOCH_MS - (5 + (x.p % 200)) * DAY_MS).toISOString();
  const own = ownBytes(x);
  return {
    id: imageId(x),
    repoTags: x.p % 25 === 0 ? [] : [`registry.example.com/svc-${x.p % 60}:${x.p}-${x.build}`],
    repoDigests: [],
    createdAt: created,
    labels: { 'org.opencontainers.image.source': `https://git.example.com/svc-${x.p % 60}` },
    dangling: x.p % 25 === 0,
    parentId: null,
    diffIds: [base.id, ownLayer(x)],
    chainIds: [base.id, ownLayer(x)],
    sizeBytes: base.bytes + own,
    exclusiveBytes: own,
    sharedBytes: base.bytes,
    containerIds: users,
    lastUsedAt: users.length > 0 ? now.toISOString() : created,
    buildCacheHeld: false,
  };
}

function layer(chainId: string, bytes: number, imageIds: string[]): Inventory['layers'][number] {
  return {
    chainId,
    diffId: chainId,
    cacheId: hex64(`cache-${chainId}`),
    sizeBytes: bytes,
    apparentBytes: bytes,
    allocatedBytes: bytes + 4096,
    imageIds,
  };
}

/** The layers of the picks, in first-use order: each image's base, then its own layer. */
function layersOf(picks: Pick[]): Inventory['layers'] {
  const layers = new Map<string, { bytes: number; images: string[] }>();
  for (const x of picks) {
    const id = imageId(x);
    for (const [chainId, bytes] of [
      [baseOf(x).id, baseOf(x).bytes],
      [ownLayer(x), ownBytes(x)],
    ] as const) {
      const entry = layers.get(chainId) ?? { bytes, images: [] };
      entry.images.push(id);
      layers.set(chainId, entry);
    }
  }
  return [...layers.entries()].map(([chainId, { bytes, images }]) => layer(chainId, bytes, images));
}

function containersOf(i: number, picks: Pick[], gen: number, template: Inventory['containers'][number]) {
  return [
    ...picks.slice(0, RUNNING).map((x, n) => ({
      ...template,
      id: runningId(i, x),
      name: `svc-${n}`,
      imageId: imageId(x),
      image: `registry.example.com/svc-${x.p % 60}:${x.p}`,
      logFiles: [],
      logBytes: Math.floor(rand(i, n + gen) * 2e9),
      logRotation: n % 3 !== 0,
      volumeNames: [],
    })),
    ...picks.slice(RUNNING, USED).map((x, n) => ({
      ...template,
      id: exitedId(i, x),
      name: `job-${n}`,
      imageId: imageId(x),
      image: `registry.example.com/svc-${x.p % 60}:${x.p}`,
      state: 'exited' as const,
      finishedAt: new Date(EPOCH_MS - 30 * DAY_MS).toISOString(),
      writableBytes: Math.floor(rand(i, 100 + n) * 5e8),
      logFiles: [],
      logBytes: 0,
      volumeNames: [],
    })),
  ];
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** The fields besides the entity lists that drift: totals and the disk. */
function driftOf(i: number, picks: Pick[], gen: number, containers: Inventory['containers'], sample: Inventory) {
  const layerBytes = new Map<string, number>();
  for (const x of picks) {
    layerBytes.set(baseOf(x).id, baseOf(x).bytes);
    layerBytes.set(ownLayer(x), ownBytes(x));
  }
  const totals: Inventory['totals'] = {
    imagesBytes: sum([...layerBytes.values()]),
    containersBytes: sum(containers.map((c) => c.writableBytes ?? 0)),
    containerLogsBytes: sum(containers.map((c) => c.logBytes)),
    volumesBytes: sum(sample.volumes.map((v) => v.sizeBytes ?? 0)),
    buildCacheBytes: sample.buildCache.totalBytes,
    unattributedBytes: 0,
    imageCount: picks.length,
    containerCount: containers.length,
    volumeCount: sample.volumes.length,
  };
  const filesystem = { ...(sample.filesystem as NonNullable<Inventory['filesystem']>) };
  filesystem.sizeBytes = 200e9;
  filesystem.usedBytes = Math.floor(60e9 + rand(i, 2) * 100e9 + gen * 1e6);
  filesystem.freeBytes = filesystem.sizeBytes - filesystem.usedBytes;
  return { totals, filesystem };
}

function sampleFor(i: number, now: Date): Inventory {
  const inv = makeSampleInventory({ machineId: `bench-machine-${i}`, hostname: `bench-host-${i}`, collectedAt: now });
  inv.host.labels = { env: ['prod', 'staging', 'dev'][i % 3] as string, team: `team-${i % 20}` };
  return inv;
}

/**
 * Agent i's inventory at its `gen`-th snapshot: its images come from a shared pool (so hosts
 * share images, as fleets do). Between two snapshots one image in fifty is replaced by a new
 * build, the running containers' logs and the disk's used bytes grow, and images in use get a
 * new last-used time: what an agent's delta carries.
 */
export function inventoryFor(i: number, gen: number, now: Date): Inventory {
  const inv = sampleFor(i, now);
  const picks = picksOf(i, gen);
  inv.images = picks.map((_, k) => imageFor(i, picks, k, now));
  inv.layers = layersOf(picks);
  inv.containers = containersOf(i, picks, gen, inv.containers[0] as Inventory['containers'][number]);
  Object.assign(inv, driftOf(i, picks, gen, inv.containers, inv));
  return inv;
}

/**
 * The delta from agent i's reading `from` to its reading `to`, built from what changes between
 * them without building either inventory (the simulator shares the machine with the server):
 * applied to inventoryFor(i, from…) it gives inventoryFor(i, to…), lists compared by key.
 */
export function deltaFor(i: number, from: { gen: number; at: Date }, to: { gen: number; at: Date }): InventoryDelta {
  const sample = sampleFor(i, to.at);
  const before = picksOf(i, from.gen);
  const after = picksOf(i, to.gen);
  const rebuilt = after.map((x, k) => x.build !== (before[k] as Pick).build);
  const images = { put: [] as Inventory['images'], remove: [] as string[] };
  const layers = { put: [] as Inventory['layers'], remove: [] as string[] };
  const bases = new Set<string>();
  after.forEach((x, k) => {
    if (rebuilt[k]) {
      images.remove.push(imageId(before[k] as Pick));
      layers.remove.push(ownLayer(before[k] as Pick));
      layers.put.push(layer(ownLayer(x), ownBytes(x), [imageId(x)]));
      bases.add(baseOf(x).id);
    }
    if (rebuilt[k] || k < USED) images.put.push(imageFor(i, after, k, to.at));
  });
  // A base layer lists the images on it: rebuilt ones change it.
  const byBase = new Map<string, string[]>();
  for (const x of after) {
    const base = baseOf(x);
    if (bases.has(base.id)) byBase.set(base.id, [...(byBase.get(base.id) ?? []), imageId(x)]);
  }
  for (const base of BASES) {
    const ids = byBase.get(base.id);
    if (ids) layers.put.push(layer(base.id, base.bytes, ids));
  }
  const containers = containersOf(i, after, to.gen, sample.containers[0] as Inventory['containers'][number]);
  const changedContainers = containers.filter((_, n) => n < RUNNING || rebuilt[n]);
  return {
    set: { collectedAt: to.at.toISOString(), ...driftOf(i, after, to.gen, containers, sample) },
    unset: [],
    images,
    layers,
    containers: { put: changedContainers, remove: [] },
  };
}
