import type {
  CollectorReport,
  Container,
  ContainerdLease,
  ContainerdSnapshot,
  ContainerdStore,
  Filesystem,
  HostInfo,
  Image,
  Inventory,
  K3s,
  Layer,
} from '@ballast/shared';
import { EMPTY_BUILD_CACHE } from '../collectors/build-cache.js';
import { mapLimit } from '../concurrency.js';
import { measureTree, type TreeUsage } from '../fs/walk.js';
import { chainIds as computeChainIds } from '../inventory/chain.js';
import { computeSharing } from '../inventory/sharing.js';
import { errorMessage } from '../log.js';
import type { ContainerdClient, ContentInfo, CtrContainer, CtrImage, Mount, SnapshotInfo, Task } from './client.js';
import { type ResolvedImage, resolveImage } from './images.js';

export const DEFAULT_SNAPSHOTTER = 'overlayfs';
const GC_EXPIRE = 'containerd.io/gc.expire';
const GC_ROOT = 'containerd.io/gc.root';
/** CRI's label on images kubelet must never remove (the sandbox image). */
export const PINNED_LABEL = 'io.cri-containerd.pinned';

/** Everything one pass reads from containerd, before it is mapped to the inventory. */
export interface ContainerdFacts {
  version: string;
  images: CtrImage[];
  resolved: Map<string, ResolvedImage | { error: string }>;
  content: ContentInfo[];
  snapshots: SnapshotInfo[];
  usage: Map<string, { size: number; inodes: number }>;
  containers: CtrContainer[];
  tasks: Task[];
  leases: Array<{
    id: string;
    createdAt: string | null;
    labels: Record<string, string>;
    resources: Array<{ id: string; type: string }>;
  }>;
  /** Active snapshot key → its upper directory (from the snapshotter's mounts). */
  upperDirs: Map<string, string>;
  writable: Map<string, TreeUsage>;
  root: string | null;
}

export interface ContainerdScanOptions {
  snapshotter?: string;
  signal?: AbortSignal;
  /** Immutable per target digest. */
  resolveCache?: Map<string, ResolvedImage>;
  /** Walk containers' writable directories (default true; the job re-checks skip it). */
  walkWritable?: boolean;
}

function upperDirOf(mounts: Mount[]): string | null {
  for (const m of mounts) {
    if (m.type === 'overlay') {
      const upper = m.options.find((o) => o.startsWith('upperdir='));
      if (upper) return upper.slice('upperdir='.length);
    }
    // A snapshot with no parent is a plain bind mount of its own directory.
    if (m.type === 'bind' && !m.options.includes('ro')) return m.source;
  }
  return null;
}

/** Reads the namespace: images (with manifests and configs), content, snapshots and usage, containers, tasks, leases. */
export async function collectContainerd(
  client: ContainerdClient,
  options: ContainerdScanOptions = {},
): Promise<ContainerdFacts> {
  const { signal } = options;
  const snapshotter = options.snapshotter ?? DEFAULT_SNAPSHOTTER;
  const version = (await client.version(signal)).version;
  const images = await client.listImages(signal);
  const content = await client.listContent(signal);
  const present = new Set(content.map((c) => c.digest));
  const resolved = new Map<string, ResolvedImage | { error: string }>();
  const cache = options.resolveCache ?? new Map<string, ResolvedImage>();
  await mapLimit(images, 8, async (image) => {
    const key = image.target.digest;
    let r = cache.get(key);
    if (!r) {
      try {
        r = await resolveImage(client, image.target, present, signal);
        cache.set(key, r);
      } catch (err) {
        resolved.set(image.name, { error: errorMessage(err) });
        return;
      }
    }
    resolved.set(image.name, r);
  });
  const snapshots = await client.listSnapshots(snapshotter, signal);
  const usage = new Map<string, { size: number; inodes: number }>();
  await mapLimit(snapshots, 8, async (s) => {
    usage.set(s.name, await client.snapshotUsage(snapshotter, s.name, signal));
  });
  const containers = await client.listContainers(signal);
  const tasks = await client.listTasks(signal).catch(() => [] as Task[]);
  const leases = await mapLimit(await client.listLeases(signal), 8, async (l) => ({
    ...l,
    resources: await client.leaseResources(l.id, signal),
  }));

  // Active snapshots: where their writable directory is, for an apparent-bytes walk; one
  // snapshot's mount paths also reveal containerd's root.
  const upperDirs = new Map<string, string>();
  let root: string | null = null;
  const marker = `/io.containerd.snapshotter.v1.${snapshotter}/snapshots/`;
  for (const s of snapshots) {
    // Only active snapshots have writable mounts; the snapshotter refuses Mounts on committed ones.
    if (s.kind !== 'ACTIVE') continue;
    const mounts = await client.snapshotMounts(snapshotter, s.name, signal).catch(() => null);
    const upper = mounts ? upperDirOf(mounts) : null;
    if (!upper) continue;
    upperDirs.set(s.name, upper);
    const at = upper.indexOf(marker);
    if (root === null && at > 0) root = upper.slice(0, at);
  }
  const writable = new Map<string, TreeUsage>();
  for (const c of options.walkWritable === false ? [] : containers) {
    const dir = upperDirs.get(c.snapshotKey);
    if (!dir) continue;
    writable.set(c.id, await measureTree(dir, { oneFileSystem: true, signal }));
  }
  return { version, images, resolved, content, snapshots, usage, containers, tasks, leases, upperDirs, writable, root };
}

/** Whether a lease still protects its resources (`containerd.io/gc.expire` in the past means no). */
function leaseExpiry(labels: Record<string, string>, now: Date): { expiresAt: string | null; expired: boolean } {
  const raw = labels[GC_EXPIRE];
  if (!raw) return { expiresAt: null, expired: false };
  const ms = Date.parse(raw);
  if (Number.isNaN(ms)) return { expiresAt: null, expired: false };
  return { expiresAt: new Date(ms).toISOString(), expired: ms <= now.getTime() };
}

/**
 * What containerd's garbage collector keeps, following the same references it follows:
 * image targets, containers' snapshots, unexpired leases and `gc.root` labels are roots;
 * `containerd.io/gc.ref.content*` labels lead to blobs, `containerd.io/gc.ref.snapshot.<name>`
 * labels to snapshots, and a snapshot keeps its parent.
 */
export function gcReachable(
  facts: Pick<ContainerdFacts, 'images' | 'content' | 'snapshots' | 'containers' | 'leases'>,
  snapshotter: string,
  now: Date,
): { content: Set<string>; snapshots: Set<string> } {
  const contentByDigest = new Map(facts.content.map((c) => [c.digest, c]));
  const snapByKey = new Map(facts.snapshots.map((s) => [s.name, s]));
  const content = new Set<string>();
  const snapshots = new Set<string>();
  const contentQueue: string[] = [];
  const snapQueue: string[] = [];
  const followLabels = (labels: Record<string, string>) => {
    for (const [key, value] of Object.entries(labels)) {
      if (key === 'containerd.io/gc.ref.content' || key.startsWith('containerd.io/gc.ref.content.'))
        contentQueue.push(value);
      else if (key === `containerd.io/gc.ref.snapshot.${snapshotter}`) snapQueue.push(value);
    }
  };
  for (const image of facts.images) contentQueue.push(image.target.digest);
  for (const c of facts.content) if (c.labels[GC_ROOT] !== undefined) contentQueue.push(c.digest);
  for (const s of facts.snapshots) if (s.labels[GC_ROOT] !== undefined) snapQueue.push(s.name);
  for (const c of facts.containers) {
    if (c.snapshotKey && (c.snapshotter === snapshotter || c.snapshotter === '')) snapQueue.push(c.snapshotKey);
    followLabels(c.labels);
  }
  for (const lease of facts.leases) {
    if (leaseExpiry(lease.labels, now).expired) continue;
    for (const r of lease.resources) {
      if (r.type === 'content') contentQueue.push(r.id);
      else if (r.type === `snapshots/${snapshotter}`) snapQueue.push(r.id);
    }
  }
  while (contentQueue.length > 0 || snapQueue.length > 0) {
    const digest = contentQueue.pop();
    if (digest !== undefined) {
      if (content.has(digest)) continue;
      content.add(digest);
      const info = contentByDigest.get(digest);
      if (info) followLabels(info.labels);
      continue;
    }
    const key = snapQueue.pop();
    if (key === undefined || snapshots.has(key)) continue;
    snapshots.add(key);
    const info = snapByKey.get(key);
    if (info) {
      if (info.parent) snapQueue.push(info.parent);
      followLabels(info.labels);
    }
  }
  return { content, snapshots };
}

/** Image names that are not references: CRI also names each image by its ID (`sha256:<hex>`). */
function isIdName(name: string): boolean {
  return /^sha256:[0-9a-f]{64}$/.test(name);
}

const TASK_STATES: Record<Task['status'], string> = {
  UNKNOWN: 'unknown',
  CREATED: 'created',
  RUNNING: 'running',
  STOPPED: 'exited',
  PAUSED: 'paused',
  PAUSING: 'paused',
};

export interface ContainerdInventoryInput {
  facts: ContainerdFacts;
  address: string;
  namespace: string;
  snapshotter: string;
  now: Date;
  k3s: K3s | null;
  imageLastUsed: Readonly<Record<string, string>>;
}

export interface ContainerdInventoryParts {
  images: Image[];
  layers: Layer[];
  containers: Container[];
  store: ContainerdStore;
  imagesBytes: number;
  containersBytes: number;
  /** Image name → image ID (config digest), for remediation. */
  namesById: Map<string, string[]>;
}

/**
 * Maps containerd's objects to the inventory's images, layers and containers so the server
 * needs no special case. An image is one config digest (Docker's and CRI's image ID) with
 * all names pointing at it. A layer (chainID) holds its compressed blob and its unpacked
 * snapshot: its size is both, because removing the last image using it frees both.
 */
export function containerdInventoryParts(input: ContainerdInventoryInput): ContainerdInventoryParts {
  const { facts, snapshotter, now } = input;
  const blobSize = new Map(facts.content.map((c) => [c.digest, c.size]));
  const snapByKey = new Map(facts.snapshots.map((s) => [s.name, s]));

  interface Group {
    id: string;
    names: string[];
    resolved: ResolvedImage;
    labels: Record<string, string>;
    createdAt: string | null;
    metadata: Set<string>;
  }
  const groups = new Map<string, Group>();
  for (const image of facts.images) {
    const r = facts.resolved.get(image.name);
    if (!r || 'error' in r) continue;
    let g = groups.get(r.configDigest);
    if (!g) {
      g = { id: r.configDigest, names: [], resolved: r, labels: {}, createdAt: r.createdAt, metadata: new Set() };
      groups.set(r.configDigest, g);
    }
    g.names.push(image.name);
    // containerd's own labels (pinned, managed-by) matter for protection; config labels too.
    Object.assign(g.labels, r.labels, image.labels);
    for (const d of r.metadataDigests) g.metadata.add(d);
  }

  // chainID → layer
  const layerInfo = new Map<
    string,
    { diffId: string; blob: string; blobBytes: number | null; snapBytes: number | null }
  >();
  const groupChains = new Map<string, string[]>();
  for (const g of groups.values()) {
    const chain = computeChainIds(g.resolved.diffIds);
    groupChains.set(g.id, chain);
    chain.forEach((chainId, i) => {
      if (layerInfo.has(chainId)) return;
      const blob = g.resolved.layers[i];
      const snap = snapByKey.get(chainId);
      layerInfo.set(chainId, {
        diffId: g.resolved.diffIds[i] ?? chainId,
        blob: blob?.digest ?? '',
        blobBytes: blob ? (blobSize.get(blob.digest) ?? null) : null,
        snapBytes: snap ? (facts.usage.get(chainId)?.size ?? null) : null,
      });
    });
  }
  const layerBytes = (chainId: string) => {
    const l = layerInfo.get(chainId);
    return l ? (l.blobBytes ?? 0) + (l.snapBytes ?? 0) : undefined;
  };

  // Containers: a parent chain from their active snapshot.
  const nameToId = new Map<string, string>();
  for (const g of groups.values()) for (const n of g.names) nameToId.set(n, g.id);
  const parentChain = (key: string): string[] => {
    const chain: string[] = [];
    let current = snapByKey.get(key)?.parent;
    while (current && chain.length < 512) {
      chain.unshift(current);
      current = snapByKey.get(current)?.parent;
    }
    return chain;
  };
  const sharing = computeSharing(
    [...groups.values()].map((g) => ({
      id: g.id,
      parentId: null,
      hasTags: g.names.some((n) => !isIdName(n) && !n.includes('@')),
      hasRefs: g.names.some((n) => !isIdName(n)),
      chainIds: groupChains.get(g.id) ?? [],
    })),
    facts.containers.map((c) => ({
      id: c.id,
      imageId: nameToId.get(c.image) ?? '',
      chainIds: parentChain(c.snapshotKey),
    })),
    layerBytes,
  );

  // Metadata blobs (index, manifest, config): exclusive unless another image group lists them too.
  const metaUsers = new Map<string, number>();
  for (const g of groups.values()) for (const d of g.metadata) metaUsers.set(d, (metaUsers.get(d) ?? 0) + 1);

  const containersByImage = new Map<string, string[]>();
  for (const c of facts.containers) {
    const id = nameToId.get(c.image);
    if (!id) continue;
    containersByImage.set(id, [...(containersByImage.get(id) ?? []), c.id]);
  }

  const images: Image[] = [];
  let metadataBytes = 0;
  for (const g of [...groups.values()].sort((a, b) => a.id.localeCompare(b.id))) {
    const share = sharing.images.get(g.id);
    if (!share) continue;
    let metaOwn = 0;
    let metaShared = 0;
    for (const d of g.metadata) {
      const size = blobSize.get(d) ?? 0;
      if ((metaUsers.get(d) ?? 0) > 1) metaShared += size;
      else metaOwn += size;
    }
    metadataBytes += metaOwn;
    const chain = groupChains.get(g.id) ?? [];
    const contentBytes = metaOwn + metaShared + chain.reduce((sum, id) => sum + (layerInfo.get(id)?.blobBytes ?? 0), 0);
    const snapshotBytes = chain.reduce((sum, id) => sum + (layerInfo.get(id)?.snapBytes ?? 0), 0);
    images.push({
      id: g.id,
      repoTags: g.names.filter((n) => !isIdName(n) && !n.includes('@')).sort(),
      repoDigests: g.names.filter((n) => n.includes('@')).sort(),
      createdAt: g.createdAt,
      labels: g.labels,
      dangling: share.dangling,
      parentId: null,
      diffIds: g.resolved.diffIds,
      chainIds: chain,
      sizeBytes: share.sizeBytes + metaOwn + metaShared,
      exclusiveBytes: share.exclusiveBytes + metaOwn,
      sharedBytes: share.sharedBytes + metaShared,
      containerIds: containersByImage.get(g.id) ?? [],
      lastUsedAt: input.imageLastUsed[g.id] ?? null,
      buildCacheHeld: false,
      contentBytes,
      snapshotBytes,
    });
  }
  // Metadata blobs shared by several groups, once each.
  for (const [d, users] of metaUsers) if (users > 1) metadataBytes += blobSize.get(d) ?? 0;

  const layers: Layer[] = [...layerInfo.entries()]
    .map(([chainId, l]) => ({
      chainId,
      diffId: l.diffId,
      cacheId: null,
      sizeBytes: (l.blobBytes ?? 0) + (l.snapBytes ?? 0),
      apparentBytes: null,
      allocatedBytes: l.snapBytes,
      imageIds: sharing.layerImages.get(chainId) ?? [],
      contentBytes: l.blobBytes,
      snapshotBytes: l.snapBytes,
    }))
    .sort((a, b) => a.chainId.localeCompare(b.chainId));

  const taskByContainer = new Map(facts.tasks.map((t) => [t.containerId, t]));
  const containers: Container[] = facts.containers
    .map((c) => {
      const task = taskByContainer.get(c.id);
      const walked = facts.writable.get(c.id) ?? null;
      return {
        id: c.id,
        name: c.labels['io.kubernetes.container.name'] ?? c.id,
        imageId: nameToId.get(c.image) ?? '',
        image: c.image,
        // No task: containerd keeps the record only (created, or exited and its task deleted).
        state: task ? TASK_STATES[task.status] : 'created',
        labels: c.labels,
        createdAt: c.createdAt,
        startedAt: null,
        finishedAt: null,
        writableBytes: walked?.apparentBytes ?? null,
        writableAllocatedBytes: walked?.allocatedBytes ?? null,
        logDriver: 'none',
        logOptions: {},
        logFiles: [],
        logBytes: 0,
        logAllocatedBytes: 0,
        logRotation: false,
        volumeNames: [],
      };
    })
    .sort((a, b) => a.id.localeCompare(b.id));

  // Snapshots and who holds them.
  const reach = gcReachable(facts, snapshotter, now);
  const snapImages = new Map<string, string[]>();
  for (const [chainId, ids] of sharing.layerImages) snapImages.set(chainId, ids);
  const snapContainers = new Map<string, string[]>();
  for (const c of facts.containers) {
    for (const key of [c.snapshotKey, ...parentChain(c.snapshotKey)]) {
      if (!key) continue;
      snapContainers.set(key, [...(snapContainers.get(key) ?? []), c.id]);
    }
  }
  const snapshots: ContainerdSnapshot[] = facts.snapshots
    .map((s) => {
      const u = facts.usage.get(s.name) ?? { size: 0, inodes: 0 };
      return {
        key: s.name,
        parent: s.parent || null,
        kind: s.kind.toLowerCase(),
        usageBytes: u.size,
        inodes: u.inodes,
        imageIds: snapImages.get(s.name) ?? [],
        containerIds: snapContainers.get(s.name) ?? [],
        referenced: reach.snapshots.has(s.name),
      };
    })
    .sort((a, b) => a.key.localeCompare(b.key));

  const leases: ContainerdLease[] = facts.leases.map((l) => {
    const expiry = leaseExpiry(l.labels, now);
    let contentBytes = 0;
    let snapshotBytes = 0;
    for (const r of l.resources) {
      if (r.type === 'content') contentBytes += blobSize.get(r.id) ?? 0;
      else if (r.type === `snapshots/${snapshotter}`) snapshotBytes += facts.usage.get(r.id)?.size ?? 0;
    }
    return {
      id: l.id,
      createdAt: l.createdAt,
      ...expiry,
      labels: l.labels,
      resources: l.resources.length,
      contentBytes,
      snapshotBytes,
    };
  });

  // Held twice: a layer's compressed blob present while its snapshot is unpacked.
  let layerBlobBytes = 0;
  let layerBlobs = 0;
  let unpackedBytes = 0;
  for (const l of layerInfo.values()) {
    if (l.blobBytes !== null && l.snapBytes !== null) {
      layerBlobBytes += l.blobBytes;
      layerBlobs += 1;
      unpackedBytes += l.snapBytes;
    }
  }
  const unrefContent = facts.content.filter((c) => !reach.content.has(c.digest));
  const unrefSnaps = facts.snapshots.filter((s) => !reach.snapshots.has(s.name));

  const store: ContainerdStore = {
    address: input.address,
    namespace: input.namespace,
    version: facts.version,
    snapshotter,
    root: facts.root,
    contentBytes: facts.content.reduce((s, c) => s + c.size, 0),
    contentBlobs: facts.content.length,
    snapshotBytes: facts.snapshots.reduce((s, x) => s + (facts.usage.get(x.name)?.size ?? 0), 0),
    snapshotCount: facts.snapshots.length,
    dualStorage: { layerBlobBytes, layerBlobs, unpackedBytes, discardUnpackedLayersBytes: layerBlobBytes },
    gc: {
      unreferencedContentBytes: unrefContent.reduce((s, c) => s + c.size, 0),
      unreferencedContentBlobs: unrefContent.length,
      unreferencedSnapshotBytes: unrefSnaps.reduce((s, x) => s + (facts.usage.get(x.name)?.size ?? 0), 0),
      unreferencedSnapshots: unrefSnaps.length,
    },
    snapshots,
    leases,
    k3s: input.k3s,
  };

  const namesById = new Map<string, string[]>();
  for (const g of groups.values()) namesById.set(g.id, [...g.names].sort());
  return {
    images,
    layers,
    containers,
    store,
    imagesBytes: sharing.imagesBytes + metadataBytes,
    containersBytes: containers.reduce((s, c) => s + (c.writableBytes ?? 0), 0),
    namesById,
  };
}

/** Image names whose manifest or config could not be read, as collector errors. */
export function unresolvedImages(facts: ContainerdFacts): string[] {
  const out: string[] = [];
  for (const [name, r] of facts.resolved) if ('error' in r) out.push(`${name}: ${r.error}`);
  return out.sort();
}

/** The whole inventory of a host where containerd is the engine (k3s, Kubernetes, plain containerd). */
export function containerdInventory(input: {
  parts: ContainerdInventoryParts;
  agentVersion: string;
  collectedAt: Date;
  host: HostInfo;
  filesystem: Filesystem | null;
  collectors: CollectorReport[];
  unresolved: string[];
}): Inventory {
  const { parts } = input;
  const store = parts.store;
  const podLogs = store.k3s?.podLogs;
  return {
    schemaVersion: 1,
    collectedAt: input.collectedAt.toISOString(),
    agentVersion: input.agentVersion,
    host: input.host,
    engine: {
      kind: 'containerd',
      version: store.version,
      apiVersion: 'v1',
      minApiVersion: 'v1',
      negotiatedApiVersion: 'v1',
      storageDriver: store.snapshotter,
      dataRoot: store.root ?? '',
      imageStore: 'containerd',
      loggingDriver: store.k3s ? 'kubelet' : 'none',
      measurable: input.unresolved.length === 0,
      unsupportedReason:
        input.unresolved.length === 0
          ? null
          : `image manifests or configs could not be read, their layers are not counted: ${input.unresolved.join('; ')}`.slice(
              0,
              4000,
            ),
    },
    filesystem: input.filesystem,
    images: parts.images,
    layers: parts.layers,
    containers: parts.containers,
    volumes: [],
    buildCache: EMPTY_BUILD_CACHE,
    totals: {
      imagesBytes: parts.imagesBytes,
      containersBytes: parts.containersBytes,
      containerLogsBytes: podLogs?.measured ? podLogs.bytes : 0,
      volumesBytes: 0,
      buildCacheBytes: 0,
      unattributedBytes: null,
      imageCount: parts.images.length,
      containerCount: parts.containers.length,
      volumeCount: 0,
    },
    collectors: input.collectors,
    containerd: store,
  };
}
