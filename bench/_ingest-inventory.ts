// Simulated agent inventories for the ingest bench: realistic sizes, deterministic, drifting.
import { createHash } from 'node:crypto';
import type { Inventory } from '@ballast/shared';
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

/**
 * Agent i's inventory at its `gen`-th snapshot: its images come from a shared pool (so hosts
 * share images, as fleets do). Between two snapshots one image in fifty is replaced by a new
 * build, the running containers' logs and the disk's used bytes grow, and images in use get a
 * new last-used time: what an agent's delta carries.
 */
export function inventoryFor(i: number, gen: number, now: Date): Inventory {
  const inv = makeSampleInventory({ machineId: `bench-machine-${i}`, hostname: `bench-host-${i}`, collectedAt: now });
  inv.host.labels = { env: ['prod', 'staging', 'dev'][i % 3] as string, team: `team-${i % 20}` };
  const count = imagesOf(i);
  const bases = Array.from({ length: 10 }, (_, b) => ({ id: sha(`base-${b}`), bytes: 50_000_000 + b * 1_000_000 }));
  const picks = Array.from({ length: count }, (_, k) => ({
    p: (i * 13 + k) % POOL,
    build: Math.floor((gen + k) / 50),
  }));
  const imageId = (x: { p: number; build: number }) => sha(`image-${x.p}-${x.build}`);
  const running = picks.slice(0, 20).map((x) => ({ x, id: hex64(`ctr-${i}-${x.p}`) }));
  const exited = picks.slice(20, 30).map((x) => ({ x, id: hex64(`exited-${i}-${x.p}`) }));
  const layerImages = new Map<string, { bytes: number; images: string[] }>();
  inv.images = picks.map((x) => {
    const base = bases[x.p % 10] as { id: string; bytes: number };
    const own = sha(`layer-${x.p}-${x.build}`);
    const ownBytes = 1_000_000 + Math.floor(rand(x.p, x.build) * 400_000_000);
    const id = imageId(x);
    for (const [layer, bytes] of [
      [base.id, base.bytes],
      [own, ownBytes],
    ] as const) {
      const entry = layerImages.get(layer) ?? { bytes, images: [] };
      entry.images.push(id);
      layerImages.set(layer, entry);
    }
    const users = [...running, ...exited].filter((c) => c.x.p === x.p).map((c) => c.id);
    const created = new Date(EPOCH_MS - (5 + (x.p % 200)) * DAY_MS).toISOString();
    return {
      id,
      repoTags: x.p % 25 === 0 ? [] : [`registry.example.com/svc-${x.p % 60}:${x.p}-${x.build}`],
      repoDigests: [],
      createdAt: created,
      labels: { 'org.opencontainers.image.source': `https://git.example.com/svc-${x.p % 60}` },
      dangling: x.p % 25 === 0,
      parentId: null,
      diffIds: [base.id, own],
      chainIds: [base.id, own],
      sizeBytes: base.bytes + ownBytes,
      exclusiveBytes: ownBytes,
      sharedBytes: base.bytes,
      containerIds: users,
      lastUsedAt: users.length > 0 ? now.toISOString() : created,
      buildCacheHeld: false,
    };
  });
  inv.layers = [...layerImages.entries()].map(([chainId, { bytes, images }]) => ({
    chainId,
    diffId: chainId,
    cacheId: hex64(`cache-${chainId}`),
    sizeBytes: bytes,
    apparentBytes: bytes,
    allocatedBytes: bytes + 4096,
    imageIds: images,
  }));
  const template = inv.containers[0] as Inventory['containers'][number];
  inv.containers = [
    ...running.map((c, n) => ({
      ...template,
      id: c.id,
      name: `svc-${n}`,
      imageId: imageId(c.x),
      image: `registry.example.com/svc-${c.x.p % 60}:${c.x.p}`,
      logFiles: [],
      logBytes: Math.floor(rand(i, n + gen) * 2e9),
      logRotation: n % 3 !== 0,
      volumeNames: [],
    })),
    ...exited.map((c, n) => ({
      ...template,
      id: c.id,
      name: `job-${n}`,
      imageId: imageId(c.x),
      image: `registry.example.com/svc-${c.x.p % 60}:${c.x.p}`,
      state: 'exited' as const,
      finishedAt: new Date(EPOCH_MS - 30 * DAY_MS).toISOString(),
      writableBytes: Math.floor(rand(i, 100 + n) * 5e8),
      logFiles: [],
      logBytes: 0,
      volumeNames: [],
    })),
  ];
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  inv.totals = {
    imagesBytes: sum(inv.layers.map((l) => l.sizeBytes)),
    containersBytes: sum(inv.containers.map((c) => c.writableBytes ?? 0)),
    containerLogsBytes: sum(inv.containers.map((c) => c.logBytes)),
    volumesBytes: sum(inv.volumes.map((v) => v.sizeBytes ?? 0)),
    buildCacheBytes: inv.buildCache.totalBytes,
    unattributedBytes: 0,
    imageCount: inv.images.length,
    containerCount: inv.containers.length,
    volumeCount: inv.volumes.length,
  };
  const fs = inv.filesystem as NonNullable<Inventory['filesystem']>;
  fs.sizeBytes = 200e9;
  fs.usedBytes = Math.floor(60e9 + rand(i, 2) * 100e9 + gen * 1e6);
  fs.freeBytes = fs.sizeBytes - fs.usedBytes;
  return inv;
}
