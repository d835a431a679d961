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
});
export type Inventory = z.infer<typeof ZInventory>;
