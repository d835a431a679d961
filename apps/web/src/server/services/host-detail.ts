import type { DbClient } from '@ballast/db';
import { joinInventoryDocument } from '@ballast/db/inventory-document';
import { type Inventory, ZInventory } from '@ballast/shared/inventory';
import { forecastDiskFull, growthByCategory, rankActionsByDaysBought } from '@ballast/shared/savings/forecast';
import { AppError } from '../errors';
import { duplicateLayersAcrossFleet } from './content';
import { FORECAST_WINDOW_DAYS, listOpportunities } from './fleet';

const DAY_MS = 86_400_000;
const num = (value: bigint | null): number | null => (value === null ? null : Number(value));

/** One host with its latest inventory, opportunities, hourly history and disk forecast. */
export async function hostDetail(prisma: DbClient, orgId: string, hostId: string, now = new Date()) {
  const host = await prisma.host.findUnique({
    where: { orgId_id: { orgId, id: hostId } },
    select: {
      id: true,
      hostname: true,
      machineId: true,
      connected: true,
      lastSeenAt: true,
      agentVersion: true,
      engineVersion: true,
      storageDriver: true,
      dataRoot: true,
      labels: true,
      inventory: {
        select: {
          receivedAt: true,
          inventory: true,
          entities: { select: { list: true, pos: true, data: true } },
        },
      },
    },
  });
  if (!host) throw new AppError('NOT_FOUND', 'no such host');
  const since = new Date(now.getTime() - 30 * DAY_MS);
  const [hourly, opportunities] = await Promise.all([
    prisma.hostUsageHourly.findMany({
      where: { orgId, hostId, hour: { gte: since } },
      orderBy: { hour: 'asc' },
      select: {
        hour: true,
        imagesBytes: true,
        containersBytes: true,
        containerLogsBytes: true,
        volumesBytes: true,
        buildCacheBytes: true,
        fsSizeBytes: true,
        fsUsedBytes: true,
      },
    }),
    listOpportunities(prisma, orgId, { hostId, sort: 'monthlyCost', direction: 'desc', limit: 50 }, 200),
  ]);
  // The stored document passed ZInventory at ingest; parsing again types it and drops nothing.
  const parsed = host.inventory
    ? ZInventory.safeParse(joinInventoryDocument(host.inventory.inventory, host.inventory.entities))
    : null;
  const inventory = parsed?.success ? parsed.data : null;
  const history = hourly.map((row) => ({
    hour: row.hour,
    imagesBytes: Number(row.imagesBytes),
    containersBytes: Number(row.containersBytes),
    containerLogsBytes: Number(row.containerLogsBytes),
    volumesBytes: Number(row.volumesBytes),
    buildCacheBytes: Number(row.buildCacheBytes),
    fsSizeBytes: num(row.fsSizeBytes),
    fsUsedBytes: num(row.fsUsedBytes),
  }));
  const forecastSince = now.getTime() - FORECAST_WINDOW_DAYS * DAY_MS;
  const forecast = forecastDiskFull(
    history.flatMap((point) =>
      point.fsUsedBytes !== null && point.fsSizeBytes !== null && point.hour.getTime() >= forecastSince
        ? [{ at: point.hour, usedBytes: point.fsUsedBytes, sizeBytes: point.fsSizeBytes }]
        : [],
    ),
  );
  const recent = history.filter((point) => point.hour.getTime() >= forecastSince);
  const growth = growthByCategory(recent.map((point) => ({ ...point, at: point.hour, usedBytes: point.fsUsedBytes })));
  const { actions, best } = rankActionsByDaysBought(opportunities, forecast.growthBytesPerDay);
  const content = inventory?.duplicates ? await hostContent(prisma, orgId, inventory) : null;
  const { inventory: _document, ...hostFields } = host;
  return {
    host: { ...hostFields, labels: labelsOf(host.labels) },
    receivedAt: host.inventory?.receivedAt ?? null,
    inventory: inventory && {
      collectedAt: inventory.collectedAt,
      filesystem: inventory.filesystem,
      totals: inventory.totals,
      images: inventory.images.map((image) => ({
        id: image.id,
        repoTags: image.repoTags,
        createdAt: image.createdAt,
        dangling: image.dangling,
        sizeBytes: image.sizeBytes,
        exclusiveBytes: image.exclusiveBytes,
        sharedBytes: image.sharedBytes,
        containerCount: image.containerIds.length,
        lastUsedAt: image.lastUsedAt,
        buildCacheHeld: image.buildCacheHeld,
      })),
      containers: inventory.containers.map((container) => ({
        id: container.id,
        name: container.name,
        image: container.image,
        state: container.state,
        finishedAt: container.finishedAt,
        writableBytes: container.writableBytes,
        logDriver: container.logDriver,
        logBytes: container.logBytes,
        logRotation: container.logRotation,
        volumeNames: container.volumeNames,
      })),
      volumes: inventory.volumes.map((volume) => ({
        name: volume.name,
        driver: volume.driver,
        anonymous: volume.anonymous,
        sizeBytes: volume.sizeBytes,
        containerCount: volume.containerIds.length,
      })),
      buildCache: inventory.buildCache,
    },
    content,
    opportunities,
    history,
    forecast: { ...forecast, growthByCategory: growth, actions, best },
  };
}

/**
 * The host's content analysis with names a person recognises (the images using each layer) and,
 * for each duplicate layer, on how many hosts of the fleet the same repetition exists.
 */
async function hostContent(prisma: DbClient, orgId: string, inventory: Inventory) {
  const duplicates = inventory.duplicates as NonNullable<Inventory['duplicates']>;
  const names = new Map(inventory.images.map((i) => [i.id, i.repoTags[0] ?? `${i.id.slice(7, 19)} (untagged)`]));
  const wanted = new Set([
    ...duplicates.layers.flatMap((l) => l.chainIds),
    ...duplicates.files.flatMap((f) => f.copies.map((c) => c.chainId)),
  ]);
  const layerImages: Record<string, string[]> = {};
  for (const layer of inventory.layers) {
    if (wanted.has(layer.chainId)) layerImages[layer.chainId] = layer.imageIds.flatMap((id) => names.get(id) ?? []);
  }
  const fleet =
    duplicates.layers.length > 0
      ? await duplicateLayersAcrossFleet(prisma, orgId, {
          contentDigests: duplicates.layers.map((l) => l.contentDigest),
          limit: 500,
        })
      : [];
  return {
    duplicates,
    waste: (inventory.waste ?? []).map((w) => ({ ...w, image: names.get(w.imageId) ?? w.imageId.slice(7, 19) })),
    layerImages,
    fleetHosts: Object.fromEntries(
      fleet.map((f) => [f.contentDigest, { hostCount: f.hostCount, wastedBytes: f.wastedBytes }]),
    ),
  };
}

function labelsOf(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  return Object.fromEntries(
    Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  );
}
