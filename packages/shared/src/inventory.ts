import * as z from '@ballast/shared/zod';

/**
 * The storage inventory of one host, as `ballast-agent scan --json` prints it and as the
 * agent streams it. Byte fields are integers: `…Bytes` are apparent bytes (what the Engine
 * API reports, st_size summed with hard links once), `…AllocatedBytes` are blocks
 * (st_blocks × 512, what `du -k` reports). A figure the agent could not measure is `null`,
 * never a guess.
 */

const bytes = z.int().check(z.nonnegative());
const count = z.int().check(z.nonnegative());
const nullableBytes = z.nullable(bytes);
const nullableString = z.nullable(z.string());
const isoTime = z.iso.datetime({ offset: true });
const nullableIsoTime = z.nullable(isoTime);
const labels = z.record(z.string(), z.string());

export const ZImageStore = z.enum(['overlay2', 'containerd', 'other']);
export type ImageStore = z.infer<typeof ZImageStore>;

/** Which collector produced the inventory's engine figures. */
export const ZEngineKind = z.enum(['docker', 'containerd']);
export type EngineKind = z.infer<typeof ZEngineKind>;

export const ZEngine = z.object({
  kind: ZEngineKind,
  version: z.string(),
  apiVersion: z.string(),
  minApiVersion: z.string(),
  /** The API version the agent negotiated: min(agent's newest, engine's newest). */
  negotiatedApiVersion: z.string(),
  storageDriver: z.string(),
  dataRoot: z.string(),
  imageStore: ZImageStore,
  loggingDriver: z.string(),
  /** False when the agent cannot measure this engine's store exactly; `unsupportedReason` says why. */
  measurable: z.boolean(),
  unsupportedReason: nullableString,
});
export type Engine = z.infer<typeof ZEngine>;

export const ZFilesystem = z.object({
  /** The path that was measured (the engine's data root). */
  path: z.string(),
  mountPoint: nullableString,
  fsType: nullableString,
  device: nullableString,
  sizeBytes: bytes,
  usedBytes: bytes,
  /** Free to unprivileged users (statfs f_bavail), what `df` shows as Avail. */
  freeBytes: bytes,
  inodesTotal: bytes,
  inodesFree: bytes,
});
export type Filesystem = z.infer<typeof ZFilesystem>;

export const ZImage = z.object({
  id: z.string(),
  repoTags: z.array(z.string()),
  repoDigests: z.array(z.string()),
  createdAt: nullableIsoTime,
  labels,
  dangling: z.boolean(),
  parentId: nullableString,
  diffIds: z.array(z.string()),
  chainIds: z.array(z.string()),
  /** Σ of the image's layer sizes (Docker's `Size`). */
  sizeBytes: bytes,
  /** Bytes of layers no other image uses: what deleting this image frees. */
  exclusiveBytes: bytes,
  sharedBytes: bytes,
  containerIds: z.array(z.string()),
  /** When a container last referenced this image, by the agent's own clock; null if never seen. */
  lastUsedAt: nullableIsoTime,
  /** True when BuildKit cache may still hold this image's layers (deleting it alone may free nothing). */
  buildCacheHeld: z.boolean(),
  /** containerd only: Σ of this image's blobs present in the content store (index, manifest, config, compressed layers). */
  contentBytes: z.optional(bytes),
  /** containerd only: Σ usage of this image's unpacked layer snapshots. */
  snapshotBytes: z.optional(bytes),
});
export type Image = z.infer<typeof ZImage>;

export const ZLayer = z.object({
  chainId: z.string(),
  diffId: z.string(),
  cacheId: nullableString,
  /** Docker's recorded layer size (layerdb `size`, or image history). */
  sizeBytes: bytes,
  /** Walk of the layer's diff directory; null until the slow cadence has measured it. */
  apparentBytes: nullableBytes,
  allocatedBytes: nullableBytes,
  imageIds: z.array(z.string()),
  /** containerd only: the compressed layer blob in the content store (null when not present). */
  contentBytes: z.optional(nullableBytes),
  /** containerd only: the unpacked snapshot's usage (blocks, as containerd counts them; null when not unpacked). */
  snapshotBytes: z.optional(nullableBytes),
});
export type Layer = z.infer<typeof ZLayer>;

export const ZLogFile = z.object({
  path: z.string(),
  bytes,
  allocatedBytes: bytes,
  compressed: z.boolean(),
});

export const ZContainer = z.object({
  id: z.string(),
  name: z.string(),
  imageId: z.string(),
  image: z.string(),
  state: z.string(),
  labels,
  createdAt: nullableIsoTime,
  startedAt: nullableIsoTime,
  finishedAt: nullableIsoTime,
  /** Upper-dir walk, same rule as Docker's `SizeRw`; null until measured. */
  writableBytes: nullableBytes,
  writableAllocatedBytes: nullableBytes,
  logDriver: z.string(),
  logOptions: z.record(z.string(), z.string()),
  logFiles: z.array(ZLogFile),
  logBytes: bytes,
  logAllocatedBytes: bytes,
  /** True when max-size bounds the log (json-file with max-size, or the local driver). */
  logRotation: z.boolean(),
  volumeNames: z.array(z.string()),
});
export type Container = z.infer<typeof ZContainer>;

export const ZVolume = z.object({
  name: z.string(),
  driver: z.string(),
  labels,
  anonymous: z.boolean(),
  mountpoint: z.string(),
  sizeBytes: nullableBytes,
  allocatedBytes: nullableBytes,
  containerIds: z.array(z.string()),
  buildkitState: z.boolean(),
});
export type Volume = z.infer<typeof ZVolume>;

export const ZBuildCache = z.object({
  /** False when the engine's build cache could not be read this time. */
  measured: z.boolean(),
  records: count,
  /** Σ Size of records not shared with images (what `docker system df` shows). */
  totalBytes: bytes,
  reclaimableBytes: bytes,
  inUseBytes: bytes,
  /** Σ Size of records whose content is shared with image layers. */
  sharedBytes: bytes,
  byType: z.record(z.string(), z.object({ records: count, bytes })),
  measuredAt: nullableIsoTime,
});
export type BuildCache = z.infer<typeof ZBuildCache>;

export const ZTotals = z.object({
  /** Σ of each distinct layer once, over layers of top-level images (Docker's `LayersSize`). */
  imagesBytes: bytes,
  /** Σ writable-layer bytes of all containers (Docker's Σ `SizeRw`). */
  containersBytes: bytes,
  containerLogsBytes: bytes,
  volumesBytes: bytes,
  buildCacheBytes: bytes,
  /** Data-root usage (du, allocated) none of the categories explains; null until measured. */
  unattributedBytes: nullableBytes,
  imageCount: count,
  containerCount: count,
  volumeCount: count,
});
export type Totals = z.infer<typeof ZTotals>;

export const ZCollectorReport = z.object({
  name: z.string(),
  ok: z.boolean(),
  durationMs: z.number().check(z.nonnegative()),
  error: nullableString,
});
export type CollectorReport = z.infer<typeof ZCollectorReport>;

export const ZHostInfo = z.object({
  hostname: z.string(),
  machineId: z.string(),
  os: nullableString,
  kernel: nullableString,
  labels,
});
export type HostInfo = z.infer<typeof ZHostInfo>;

/**
 * Duplicate content on one host (`scan --analyze`, or the `run` loop once every layer is
 * hashed). All bytes are apparent sizes of regular files (st_size), a hard-linked inode once
 * per layer; directories, symlinks, devices and whiteouts count 0.
 */
export const ZDuplicateLayer = z.object({
  /** sha256 over the layer's sorted entry list (path, type, mode, size, content hash / link target / device). */
  contentDigest: z.string(),
  /** Layers (chainIDs) on this host with exactly this content, sorted. */
  chainIds: z.array(z.string()).check(z.minLength(2)),
  /** Apparent bytes of one copy of the layer. */
  bytes,
  /** bytes × (chainIds.length − 1): what storing the content once (a shared base) would save. */
  wastedBytes: bytes,
});
export type DuplicateLayer = z.infer<typeof ZDuplicateLayer>;

export const ZContentCopy = z.object({ chainId: z.string(), path: z.string() });

export const ZDuplicateFile = z.object({
  /** sha256 of the file's content. */
  contentHash: z.string(),
  /** st_size of one copy. */
  bytes,
  /**
   * Copies stored on disk: a layer and a path in it (hard links to one inode are one copy),
   * sorted by chainID and path; at most 50 are listed.
   */
  copies: z.array(ZContentCopy).check(z.minLength(2)),
  /** Every copy, listed or not. */
  copyCount: z.int().check(z.gte(2)),
  /** bytes × (copyCount − 1). */
  wastedBytes: bytes,
});
export type DuplicateFile = z.infer<typeof ZDuplicateFile>;

export const ZDuplicates = z.object({
  /** Layers hashed so far / still to hash; findings cover hashed layers only. */
  analyzedLayers: count,
  pendingLayers: count,
  /** Files smaller than this are not reported as duplicates (the list stays useful). */
  minFileBytes: bytes,
  layers: z.array(ZDuplicateLayer),
  /** Top offenders by wastedBytes (at most 100). */
  files: z.array(ZDuplicateFile),
  /** Σ wastedBytes over every duplicate file group of at least minFileBytes, listed or not. */
  filesWastedBytes: bytes,
  /** Number of such groups, listed or not. */
  fileGroups: count,
});
export type Duplicates = z.infer<typeof ZDuplicates>;

export const ZWasteItem = z.object({
  path: z.string(),
  /** The layer holding the redundant copy. */
  chainId: z.string(),
  /** st_size of that copy. */
  bytes,
  /** overwritten: an upper layer has the same path; deleted: a whiteout or a non-directory above
   *  replaces it or a parent; opaque: an upper layer made a parent directory opaque. */
  reason: z.enum(['overwritten', 'deleted', 'opaque']),
});
export type WasteItem = z.infer<typeof ZWasteItem>;

export const ZImageWaste = z.object({
  imageId: z.string(),
  /**
   * Σ st_size of regular files in the image's layers that upper layers of the same image
   * overwrite or delete: only the redundant copies, never the surviving one (dive's
   * WastedBytes also counts the surviving copy).
   */
  wastedBytes: bytes,
  itemCount: count,
  /** The largest items (at most 20). */
  items: z.array(ZWasteItem),
});
export type ImageWaste = z.infer<typeof ZImageWaste>;

/** One containerd snapshot: committed layers (key = chainID) and containers' active snapshots. */
export const ZContainerdSnapshot = z.object({
  key: z.string(),
  parent: nullableString,
  kind: z.string(),
  /** containerd's Usage: st_blocks × 512, hard links once, the snapshot's own directory only. */
  usageBytes: bytes,
  inodes: bytes,
  /** Top-level images whose layer chain contains it. */
  imageIds: z.array(z.string()),
  /** Containers whose rootfs is it or sits on it. */
  containerIds: z.array(z.string()),
  /** False when nothing (image, container, lease, gc.root label) keeps it from the garbage collector. */
  referenced: z.boolean(),
});
export type ContainerdSnapshot = z.infer<typeof ZContainerdSnapshot>;

export const ZContainerdLease = z.object({
  id: z.string(),
  createdAt: nullableIsoTime,
  /** `containerd.io/gc.expire`; an expired lease no longer protects anything. */
  expiresAt: nullableIsoTime,
  expired: z.boolean(),
  labels,
  resources: count,
  /** Σ of content blobs the lease holds (present ones). */
  contentBytes: bytes,
  /** Σ usage of snapshots the lease holds. */
  snapshotBytes: bytes,
});
export type ContainerdLease = z.infer<typeof ZContainerdLease>;

export const ZKubeletSetting = z.object({
  value: z.string(),
  /** `default` (kubelet's own default) or the config file and key that set it. */
  source: z.string(),
});

/** k3s on this host: where it keeps things and the kubelet settings that bound its disk use. */
export const ZK3s = z.object({
  dataDir: z.string(),
  socket: nullableString,
  configFiles: z.array(z.string()),
  /** Errors reading or parsing the config files; settings from unreadable files are unknown. */
  configErrors: z.array(z.string()),
  kubelet: z.object({
    imageGCHighThresholdPercent: ZKubeletSetting,
    imageGCLowThresholdPercent: ZKubeletSetting,
    imageMinimumGCAge: ZKubeletSetting,
    imageMaximumGCAge: ZKubeletSetting,
    containerLogMaxSize: ZKubeletSetting,
    containerLogMaxFiles: ZKubeletSetting,
  }),
  /** Air-gap image archives k3s imports at every start (`<data-dir>/agent/images`). */
  airgapImageFiles: z.array(z.object({ path: z.string(), bytes })),
  /** `/var/log/pods`: kubelet-managed container logs. */
  podLogs: z.object({
    path: z.string(),
    bytes,
    allocatedBytes: bytes,
    files: count,
    measured: z.boolean(),
  }),
});
export type K3s = z.infer<typeof ZK3s>;

/**
 * What the containerd collector measured in one namespace. Content bytes are st_size of the
 * blobs (compressed layers, manifests, configs); snapshot bytes are containerd's Usage (blocks).
 */
export const ZContainerdStore = z.object({
  address: z.string(),
  namespace: z.string(),
  version: z.string(),
  snapshotter: z.string(),
  /** containerd's root as its snapshot mounts reveal it; null when no snapshot exists. */
  root: nullableString,
  contentBytes: bytes,
  contentBlobs: count,
  snapshotBytes: bytes,
  snapshotCount: count,
  dualStorage: z.object({
    /** Compressed layer blobs whose layer is also unpacked as a snapshot: held twice. */
    layerBlobBytes: bytes,
    layerBlobs: count,
    /** Usage of those unpacked snapshots. */
    unpackedBytes: bytes,
    /**
     * What CRI's `discard_unpacked_layers = true` avoids keeping: the compressed blobs of
     * unpacked layers (for images pulled after the change; existing images keep theirs).
     */
    discardUnpackedLayersBytes: bytes,
  }),
  gc: z.object({
    /** Blobs no image, container, lease or gc.root label reaches: a garbage collection removes them. */
    unreferencedContentBytes: bytes,
    unreferencedContentBlobs: count,
    unreferencedSnapshotBytes: bytes,
    unreferencedSnapshots: count,
  }),
  snapshots: z.array(ZContainerdSnapshot),
  leases: z.array(ZContainerdLease),
  k3s: z.nullable(ZK3s),
});
export type ContainerdStore = z.infer<typeof ZContainerdStore>;

/** Which collectors ran and why (automatic selection from the host's sockets, or configured). */
export const ZCollectorSelection = z.object({
  docker: z.object({ used: z.boolean(), reason: z.string() }),
  containerd: z.object({ used: z.boolean(), reason: z.string() }),
});
export type CollectorSelection = z.infer<typeof ZCollectorSelection>;

export const ZInventory = z.object({
  schemaVersion: z.literal(1),
  collectedAt: isoTime,
  agentVersion: z.string(),
  host: ZHostInfo,
  engine: ZEngine,
  filesystem: z.nullable(ZFilesystem),
  images: z.array(ZImage),
  layers: z.array(ZLayer),
  containers: z.array(ZContainer),
  volumes: z.array(ZVolume),
  buildCache: ZBuildCache,
  totals: ZTotals,
  collectors: z.array(ZCollectorReport),
  /** Content analysis; absent when it is off or no layer has been hashed yet. */
  duplicates: z.optional(ZDuplicates),
  /** Per top-level image with waste > 0; present with `duplicates`. */
  waste: z.optional(z.array(ZImageWaste)),

  /** containerd's figures when the containerd collector ran (additive: absent on Docker-only hosts). */
  containerd: z.optional(ZContainerdStore),
  selection: z.optional(ZCollectorSelection),
});
export type Inventory = z.infer<typeof ZInventory>;
