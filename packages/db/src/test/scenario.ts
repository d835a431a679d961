import { expect } from 'vitest';
import type { DbClient } from '../client.js';
import { UnfilteredBulkWriteError } from '../client.js';
import type { Prisma } from '../generated/prisma/client.js';
import { newId } from '../ids.js';
import { joinInventoryDocument, splitInventoryDocument } from '../inventory-document.js';

const hourOf = (date: Date) => new Date(Math.floor(date.getTime() / 3_600_000) * 3_600_000);

/**
 * The queries the apps rely on, run against whichever database `prisma` talks to, so the
 * embedded and the real PostgreSQL are held to the same behaviour.
 */
export async function exercisePrisma(prisma: DbClient): Promise<void> {
  const orgId = newId('org');
  const otherOrgId = newId('org');
  await prisma.organization.createMany({
    data: [
      { id: orgId, slug: `acme-${orgId}`, name: 'Acme' },
      { id: otherOrgId, slug: `other-${otherOrgId}`, name: 'Other' },
    ],
  });

  const hostId = newId('host');
  const collectedAt = new Date('2025-03-04T10:17:23.456Z');
  await prisma.host.create({
    data: {
      orgId,
      id: hostId,
      machineId: 'machine-1',
      hostname: 'web-1',
      labels: { role: 'web', zone: 'a' },
      storageDriver: 'overlay2',
    },
  });
  await prisma.host.create({ data: { orgId: otherOrgId, id: newId('host'), machineId: 'machine-1', hostname: 'x' } });
  await expect(
    prisma.host.create({ data: { orgId, id: hostId, machineId: 'machine-2', hostname: 'dup' } }),
  ).rejects.toThrow();
  // A machine ID may repeat within an organization: a suspected clone (cloneOf) shares its original's.
  const cloneId = newId('host');
  await prisma.host.create({
    data: { orgId, id: cloneId, machineId: 'machine-1', hostname: 'clone', cloneOf: hostId },
  });
  await prisma.host.delete({ where: { orgId_id: { orgId, id: cloneId } } });

  // Byte counts beyond 2^53 must survive the round trip exactly.
  const huge = 2n ** 60n + 7n;
  const totals = {
    imagesBytes: huge,
    containersBytes: 1n,
    containerLogsBytes: 2n,
    volumesBytes: 3n,
    buildCacheBytes: 4n,
    unattributedBytes: null,
    fsSizeBytes: 1_000_000_000_000n,
    fsUsedBytes: 400_000_000_000n,
    fsFreeBytes: 600_000_000_000n,
  };
  const inventoryDoc = { schemaVersion: 1, images: [{ id: 'sha256:abc', sizeBytes: 123 }] };
  const stored = splitInventoryDocument(inventoryDoc);
  await prisma.$transaction([
    prisma.hostInventory.upsert({
      where: { orgId_hostId: { orgId, hostId } },
      create: {
        orgId,
        hostId,
        collectedAt,
        seq: 1n,
        ...totals,
        imageCount: 1,
        containerCount: 0,
        volumeCount: 0,
        inventory: stored.inventory as Prisma.InputJsonValue,
      },
      update: {},
    }),
    prisma.hostInventoryEntity.createMany({
      data: stored.entities.map((row) => ({
        orgId,
        hostId,
        ...row,
        pos: BigInt(row.pos),
        data: row.data as Prisma.InputJsonValue,
      })),
    }),
    prisma.host.update({
      where: { orgId_id: { orgId, id: hostId } },
      data: { lastSnapshotAt: collectedAt, connected: true },
    }),
  ]);
  const inventory = await prisma.hostInventory.findUniqueOrThrow({
    where: { orgId_hostId: { orgId, hostId } },
    include: { entities: true },
  });
  expect(inventory.imagesBytes).toBe(huge);
  expect(inventory.unattributedBytes).toBeNull();
  expect(inventory.seq).toBe(1n);
  expect(inventory.collectedAt.toISOString()).toBe(collectedAt.toISOString());
  expect(inventory.inventory).toEqual({ schemaVersion: 1 });
  expect(joinInventoryDocument(inventory.inventory, inventory.entities)).toEqual({
    ...inventoryDoc,
    layers: [],
    containers: [],
    volumes: [],
  });

  const hour = hourOf(collectedAt);
  for (const imagesBytes of [10n, 20n]) {
    await prisma.hostUsageHourly.upsert({
      where: { orgId_hostId_hour: { orgId, hostId, hour } },
      create: { orgId, hostId, hour, ...totals, imagesBytes, samples: 1 },
      update: { ...totals, imagesBytes, samples: { increment: 1 } },
    });
  }
  const hourly = await prisma.hostUsageHourly.findMany({ where: { orgId, hostId } });
  expect(hourly).toHaveLength(1);
  expect(hourly[0]?.hour.toISOString()).toBe('2025-03-04T10:00:00.000Z');
  expect(hourly[0]?.imagesBytes).toBe(20n);
  expect(hourly[0]?.samples).toBe(2);

  await prisma.$transaction(async (tx) => {
    await tx.auditEvent.create({
      data: { orgId, id: newId('evt'), actor: 'user:alice', action: 'host.label', target: hostId },
    });
    await tx.auditEvent.create({
      data: {
        orgId,
        id: newId('evt'),
        at: new Date(Date.now() + 1000),
        actor: 'system',
        action: 'host.connected',
        details: { via: 'agent' },
      },
    });
  });
  const events = await prisma.auditEvent.findMany({ where: { orgId }, orderBy: { at: 'desc' } });
  expect(events.map((e) => e.action)).toEqual(['host.connected', 'host.label']);
  expect(events[1]?.details).toEqual({});

  // A failing interactive transaction leaves nothing behind.
  await expect(
    prisma.$transaction(async (tx) => {
      await tx.auditEvent.create({ data: { orgId, id: 'evt_rollback', actor: 'a', action: 'b' } });
      throw new Error('abort');
    }),
  ).rejects.toThrow('abort');
  expect(await prisma.auditEvent.count({ where: { orgId, id: 'evt_rollback' } })).toBe(0);

  const labelled = await prisma.host.findMany({ where: { orgId, labels: { path: ['role'], equals: 'web' } } });
  expect(labelled.map((h) => h.id)).toEqual([hostId]);

  await expectGuarded(prisma);
  expect(await prisma.organization.count({ where: { id: { in: [orgId, otherOrgId] } } })).toBe(2);
  expect(await prisma.host.count()).toBeGreaterThanOrEqual(2);

  // Tenant-scoped bulk writes go through, and deleting an organization cascades to its data.
  expect((await prisma.host.updateMany({ where: { orgId }, data: { connected: false } })).count).toBe(1);
  await prisma.organization.delete({ where: { id: orgId } });
  expect(await prisma.host.count({ where: { orgId } })).toBe(0);
  expect(await prisma.hostInventory.count({ where: { orgId } })).toBe(0);
  expect(await prisma.hostInventoryEntity.count({ where: { orgId } })).toBe(0);
  expect(await prisma.hostUsageHourly.count({ where: { orgId } })).toBe(0);
  expect(await prisma.auditEvent.count({ where: { orgId } })).toBe(0);
  expect(await prisma.host.count({ where: { orgId: otherOrgId } })).toBe(1);
}

/** Bulk writes without a filter are refused before reaching the database. */
export async function expectGuarded(prisma: DbClient): Promise<void> {
  await expect(prisma.host.deleteMany({})).rejects.toThrow(UnfilteredBulkWriteError);
  await expect(prisma.host.deleteMany()).rejects.toThrow(/non-empty where/);
  await expect(prisma.auditEvent.deleteMany({ where: {} })).rejects.toThrow(UnfilteredBulkWriteError);
  await expect(prisma.host.deleteMany({ where: { orgId: undefined } })).rejects.toThrow(UnfilteredBulkWriteError);
  await expect(prisma.host.updateMany({ data: { connected: false } })).rejects.toThrow(UnfilteredBulkWriteError);
  await expect(prisma.host.updateMany({ where: {}, data: { connected: false } })).rejects.toThrow(
    UnfilteredBulkWriteError,
  );
  await expect(
    prisma.host.updateManyAndReturn({ where: { orgId: undefined }, data: { connected: false } }),
  ).rejects.toThrow(UnfilteredBulkWriteError);
  await expect(prisma.$transaction(async (tx) => tx.organization.deleteMany({}))).rejects.toThrow(
    UnfilteredBulkWriteError,
  );
}
