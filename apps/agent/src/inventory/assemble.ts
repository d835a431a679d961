import type { CollectorReport, Container, HostInfo, Image, Inventory, Layer, Volume } from '@ballast/shared';
import { EMPTY_BUILD_CACHE } from '../collectors/build-cache.js';
import type { CheapFacts, SlowResults } from '../collectors/context.js';
import { hasLogRotation } from '../collectors/logs.js';
import { computeSharing } from './sharing.js';

/** BuildKit names the snapshots it writes into the graphdriver with 25-char IDs; other layers get 64-hex IDs. */
export function isBuildKitCacheId(cacheId: string): boolean {
  return /^[a-z0-9]{25}$/.test(cacheId) && !/^[0-9a-f]{64}$/.test(cacheId);
}

export interface AssembleInput {
  agentVersion: string;
  collectedAt: Date;
  host: HostInfo;
  facts: CheapFacts;
  slow: SlowResults;
  imageLastUsed: Readonly<Record<string, string>>;
  collectors: CollectorReport[];
}

function parentChain(start: string | undefined, facts: CheapFacts): string[] {
  const chain: string[] = [];
  let current = start ? facts.layers.get(start) : undefined;
  while (current && chain.length < 256) {
    chain.unshift(current.chainId);
    current = current.parent ? facts.layers.get(current.parent) : undefined;
  }
  return chain;
}

/** Builds the inventory from the latest cheap facts and the latest slow-pass results. */
export function assembleInventory(input: AssembleInput): Inventory {
  const { facts, slow } = input;
  const sharing = computeSharing(
    facts.images.map((i) => ({
      id: i.id,
      parentId: i.parentId,
      hasTags: i.repoTags.length > 0,
      hasRefs: i.repoTags.length > 0 || i.repoDigests.length > 0,
      chainIds: i.chainIds,
    })),
    facts.containers.map((c) => ({
      id: c.id,
      imageId: c.imageId,
      chainIds: parentChain(facts.containerParents.get(c.id), facts),
    })),
    (chainId) => facts.layers.get(chainId)?.sizeBytes,
  );

  const containersByImage = new Map<string, string[]>();
  for (const c of facts.containers) {
    const ids = containersByImage.get(c.imageId) ?? [];
    ids.push(c.id);
    containersByImage.set(c.imageId, ids);
  }

  const buildCache = slow.buildCache ?? EMPTY_BUILD_CACHE;
  const images: Image[] = [];
  for (const image of facts.images) {
    const share = sharing.images.get(image.id);
    if (!share?.topLevel) continue;
    const buildKitLayers = image.chainIds.some((id) => {
      const cacheId = facts.layers.get(id)?.cacheId;
      return cacheId ? isBuildKitCacheId(cacheId) : false;
    });
    images.push({
      id: image.id,
      repoTags: image.repoTags,
      repoDigests: image.repoDigests,
      createdAt: image.createdAt,
      labels: image.labels,
      dangling: share.dangling,
      parentId: image.parentId,
      diffIds: image.diffIds,
      chainIds: image.chainIds,
      sizeBytes: share.sizesKnown ? share.sizeBytes : image.apiSizeBytes,
      exclusiveBytes: share.sizesKnown ? share.exclusiveBytes : 0,
      sharedBytes: share.sizesKnown ? share.sharedBytes : image.apiSizeBytes,
      containerIds: containersByImage.get(image.id) ?? [],
      lastUsedAt: input.imageLastUsed[image.id] ?? null,
      // Layers BuildKit built stay referenced by its cache after the image is deleted, so
      // deleting the image frees nothing until the build cache goes too. Until the cache has
      // been read once, assume it may hold them.
      buildCacheHeld: buildKitLayers && (!buildCache.measured || buildCache.records > 0),
    });
  }

  const layers: Layer[] = [...facts.layers.values()].map((l) => {
    const usage = slow.layerUsage.get(l.chainId);
    const walked = usage && usage.cacheId === l.cacheId ? usage.usage : null;
    return {
      chainId: l.chainId,
      diffId: l.diffId,
      cacheId: l.cacheId,
      sizeBytes: l.sizeBytes,
      apparentBytes: walked?.apparentBytes ?? null,
      allocatedBytes: walked?.allocatedBytes ?? null,
      imageIds: sharing.layerImages.get(l.chainId) ?? [],
    };
  });

  const containers: Container[] = facts.containers.map((c) => {
    const usage = slow.containerUsage.get(c.id);
    const walked = usage && usage.upperDir === c.upperDir ? usage.usage : null;
    return {
      id: c.id,
      name: c.name,
      imageId: c.imageId,
      image: c.image,
      state: c.state,
      labels: c.labels,
      createdAt: c.createdAt,
      startedAt: c.startedAt,
      finishedAt: c.finishedAt,
      writableBytes: walked?.apparentBytes ?? null,
      writableAllocatedBytes: walked?.allocatedBytes ?? null,
      logDriver: c.logDriver,
      logOptions: c.logOptions,
      logFiles: c.logFiles,
      logBytes: c.logFiles.reduce((sum, f) => sum + f.bytes, 0),
      logAllocatedBytes: c.logFiles.reduce((sum, f) => sum + f.allocatedBytes, 0),
      logRotation: hasLogRotation(c.logDriver, c.logOptions),
      volumeNames: c.volumeNames,
    };
  });

  const volumeUsers = new Map<string, string[]>();
  for (const c of facts.containers) {
    for (const name of new Set(c.volumeNames)) {
      const ids = volumeUsers.get(name) ?? [];
      ids.push(c.id);
      volumeUsers.set(name, ids);
    }
  }
  const volumes: Volume[] = facts.volumes.map((v) => {
    const usage = v.walkable ? slow.volumeUsage.get(v.name) : undefined;
    return {
      name: v.name,
      driver: v.driver,
      labels: v.labels,
      anonymous: v.anonymous,
      mountpoint: v.mountpoint,
      sizeBytes: usage?.usage.apparentBytes ?? null,
      allocatedBytes: usage?.usage.allocatedBytes ?? null,
      containerIds: volumeUsers.get(v.name) ?? [],
      buildkitState: v.buildkitState,
    };
  });

  const sum = (values: Array<number | null>) => values.reduce<number>((total, v) => total + (v ?? 0), 0);
  return {
    schemaVersion: 1,
    collectedAt: input.collectedAt.toISOString(),
    agentVersion: input.agentVersion,
    host: input.host,
    engine: facts.engine.engine,
    filesystem: facts.filesystem,
    images,
    layers,
    containers,
    volumes,
    buildCache,
    totals: {
      imagesBytes: sharing.imagesBytes,
      // Sums cover what has been measured; an entity still null adds nothing.
      containersBytes: sum(containers.map((c) => c.writableBytes)),
      containerLogsBytes: sum(containers.map((c) => c.logBytes)),
      volumesBytes: sum(volumes.map((v) => v.sizeBytes)),
      buildCacheBytes: buildCache.totalBytes,
      unattributedBytes: slow.unattributedBytes,
      imageCount: images.length,
      containerCount: containers.length,
      volumeCount: volumes.length,
    },
    collectors: input.collectors,
  };
}
