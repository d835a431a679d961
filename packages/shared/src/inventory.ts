import { z } from 'zod';

/**
 * The storage inventory of one host, as `ballast-agent scan --json` prints it and as the
 * agent streams it. Byte fields are integers: `…Bytes` are apparent bytes (what the Engine
 * API reports, st_size summed with hard links once), `…AllocatedBytes` are blocks
 * (st_blocks × 512, what `du -k` reports). A figure the agent could not measure is `null`,
 * never a guess.
 */

const bytes = z.number().int().nonnegative();
const nullableBytes = bytes.nullable();
const isoTime = z.string().datetime({ offset: true });
const labels = z.record(z.string(), z.string());

export const ZImageStore = z.enum(['overlay2', 'containerd', 'other']);
export type ImageStore = z.infer<typeof ZImageStore>;

export const ZEngine = z.object({
  kind: z.literal('docker'),
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
  unsupportedReason: z.string().nullable(),
});
export type Engine = z.infer<typeof ZEngine>;

export const ZFilesystem = z.object({
  /** The path that was measured (the engine's data root). */
  path: z.string(),
  mountPoint: z.string().nullable(),
  fsType: z.string().nullable(),
  device: z.string().nullable(),
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
  createdAt: isoTime.nullable(),
  labels,
  dangling: z.boolean(),
  parentId: z.string().nullable(),
  diffIds: z.array(z.string()),
  chainIds: z.array(z.string()),
  /** Σ of the image's layer sizes (Docker's `Size`). */
  sizeBytes: bytes,
  /** Bytes of layers no other image uses: what deleting this image frees. */
  exclusiveBytes: bytes,
  sharedBytes: bytes,
  containerIds: z.array(z.string()),
  /** When a container last referenced this image, by the agent's own clock; null if never seen. */
  lastUsedAt: isoTime.nullable(),
  /** True when BuildKit cache may still hold this image's layers (deleting it alone may free nothing). */
  buildCacheHeld: z.boolean(),
});
export type Image = z.infer<typeof ZImage>;

export const ZLayer = z.object({
  chainId: z.string(),
  diffId: z.string(),
  cacheId: z.string().nullable(),
  /** Docker's recorded layer size (layerdb `size`, or image history). */
  sizeBytes: bytes,
  /** Walk of the layer's diff directory; null until the slow cadence has measured it. */
  apparentBytes: nullableBytes,
  allocatedBytes: nullableBytes,
  imageIds: z.array(z.string()),
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
  createdAt: isoTime.nullable(),
  startedAt: isoTime.nullable(),
  finishedAt: isoTime.nullable(),
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
  records: z.number().int().nonnegative(),
  /** Σ Size of records not shared with images (what `docker system df` shows). */
  totalBytes: bytes,
  reclaimableBytes: bytes,
  inUseBytes: bytes,
  /** Σ Size of records whose content is shared with image layers. */
  sharedBytes: bytes,
  byType: z.record(z.string(), z.object({ records: z.number().int().nonnegative(), bytes })),
  measuredAt: isoTime.nullable(),
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
  imageCount: z.number().int().nonnegative(),
  containerCount: z.number().int().nonnegative(),
  volumeCount: z.number().int().nonnegative(),
});
export type Totals = z.infer<typeof ZTotals>;

export const ZCollectorReport = z.object({
  name: z.string(),
  ok: z.boolean(),
  durationMs: z.number().nonnegative(),
  error: z.string().nullable(),
});
export type CollectorReport = z.infer<typeof ZCollectorReport>;

export const ZHostInfo = z.object({
  hostname: z.string(),
  machineId: z.string(),
  os: z.string().nullable(),
  kernel: z.string().nullable(),
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
  chainIds: z.array(z.string()).min(2),
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
  copies: z.array(ZContentCopy).min(2),
  /** Every copy, listed or not. */
  copyCount: z.number().int().min(2),
  /** bytes × (copyCount − 1). */
  wastedBytes: bytes,
});
export type DuplicateFile = z.infer<typeof ZDuplicateFile>;

export const ZDuplicates = z.object({
  /** Layers hashed so far / still to hash; findings cover hashed layers only. */
  analyzedLayers: z.number().int().nonnegative(),
  pendingLayers: z.number().int().nonnegative(),
  /** Files smaller than this are not reported as duplicates (the list stays useful). */
  minFileBytes: bytes,
  layers: z.array(ZDuplicateLayer),
  /** Top offenders by wastedBytes (at most 100). */
  files: z.array(ZDuplicateFile),
  /** Σ wastedBytes over every duplicate file group of at least minFileBytes, listed or not. */
  filesWastedBytes: bytes,
  /** Number of such groups, listed or not. */
  fileGroups: z.number().int().nonnegative(),
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
  itemCount: z.number().int().nonnegative(),
  /** The largest items (at most 20). */
  items: z.array(ZWasteItem),
});
export type ImageWaste = z.infer<typeof ZImageWaste>;

export const ZInventory = z.object({
  schemaVersion: z.literal(1),
  collectedAt: isoTime,
  agentVersion: z.string(),
  host: ZHostInfo,
  engine: ZEngine,
  filesystem: ZFilesystem.nullable(),
  images: z.array(ZImage),
  layers: z.array(ZLayer),
  containers: z.array(ZContainer),
  volumes: z.array(ZVolume),
  buildCache: ZBuildCache,
  totals: ZTotals,
  collectors: z.array(ZCollectorReport),
  /** Content analysis; absent when it is off or no layer has been hashed yet. */
  duplicates: ZDuplicates.optional(),
  /** Per top-level image with waste > 0; present with `duplicates`. */
  waste: z.array(ZImageWaste).optional(),
});
export type Inventory = z.infer<typeof ZInventory>;
