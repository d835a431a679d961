import type { DbClient } from '@ballast/db';

/** Bytes fit in a double up to 8 PiB; past that a host would be worth a special case. */
const toNumber = (value: bigint | null): number | null => (value === null ? null : Number(value));

export interface HostSummary {
  id: string;
  hostname: string;
  machineId: string;
  connected: boolean;
  lastSeenAt: Date;
  agentVersion: string | null;
  engineVersion: string | null;
  storageDriver: string | null;
  dataRoot: string | null;
  latest: {
    collectedAt: Date;
    receivedAt: Date;
    imagesBytes: number;
    containersBytes: number;
    containerLogsBytes: number;
    volumesBytes: number;
    buildCacheBytes: number;
    unattributedBytes: number | null;
    fsSizeBytes: number | null;
    fsUsedBytes: number | null;
    fsFreeBytes: number | null;
    imageCount: number;
    containerCount: number;
    volumeCount: number;
  } | null;
}

export async function listHosts(prisma: DbClient, orgId: string): Promise<HostSummary[]> {
  const hosts = await prisma.host.findMany({
    where: { orgId },
    orderBy: { hostname: 'asc' },
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
      inventory: {
        select: {
          collectedAt: true,
          receivedAt: true,
          imagesBytes: true,
          containersBytes: true,
          containerLogsBytes: true,
          volumesBytes: true,
          buildCacheBytes: true,
          unattributedBytes: true,
          fsSizeBytes: true,
          fsUsedBytes: true,
          fsFreeBytes: true,
          imageCount: true,
          containerCount: true,
          volumeCount: true,
        },
      },
    },
  });
  return hosts.map(({ inventory, ...host }) => ({
    ...host,
    latest: inventory
      ? {
          collectedAt: inventory.collectedAt,
          receivedAt: inventory.receivedAt,
          imagesBytes: Number(inventory.imagesBytes),
          containersBytes: Number(inventory.containersBytes),
          containerLogsBytes: Number(inventory.containerLogsBytes),
          volumesBytes: Number(inventory.volumesBytes),
          buildCacheBytes: Number(inventory.buildCacheBytes),
          unattributedBytes: toNumber(inventory.unattributedBytes),
          fsSizeBytes: toNumber(inventory.fsSizeBytes),
          fsUsedBytes: toNumber(inventory.fsUsedBytes),
          fsFreeBytes: toNumber(inventory.fsFreeBytes),
          imageCount: inventory.imageCount,
          containerCount: inventory.containerCount,
          volumeCount: inventory.volumeCount,
        }
      : null,
  }));
}

/** Hosts of the organization whose agent is connected now (the gateway keeps the flag current). */
export async function countConnectedHosts(prisma: DbClient, orgId: string): Promise<number> {
  return prisma.host.count({ where: { orgId, connected: true } });
}
