import { type Database, openDatabase } from '@ballast/db';
import { createTestDatabase, type TestDatabase } from '@ballast/db/test/pg';
import { makeSampleInventory } from '@ballast/shared/sample-inventory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordSnapshot, registerHost } from './ingest';
import { ensureDefaultOrganization } from './organizations';
import { pruneHistory } from './retention';

const DAY_MS = 86_400_000;
let database: TestDatabase;
let db: Database;

beforeAll(async () => {
  database = await createTestDatabase();
  db = await openDatabase({ databaseUrl: database.url, dataDir: '/nonexistent' });
});

afterAll(async () => {
  await db?.close();
  await database?.drop();
});

describe('pruneHistory', () => {
  it('deletes only rows older than each retention, in batches, and keeps the latest inventory', async () => {
    const orgId = (await ensureDefaultOrganization(db.prisma)).id;
    const { hostId } = await registerHost(db.prisma, orgId, { machineId: 'm-r', hostname: 'r', agentVersion: '0' });
    const now = new Date('2026-06-01T00:30:00Z');
    // 100 days of hourly rows: 2,400 rows, of which the 10 oldest days (240 rows) are past 90 days.
    const base = {
      orgId,
      hostId,
      imagesBytes: 1n,
      containersBytes: 1n,
      containerLogsBytes: 1n,
      volumesBytes: 1n,
      buildCacheBytes: 1n,
      samples: 1,
    };
    const hours = Array.from({ length: 100 * 24 }, (_, h) => new Date(now.getTime() - (h + 1) * 3_600_000));
    await db.prisma.hostUsageHourly.createMany({ data: hours.map((hour) => ({ ...base, hour })) });
    await recordSnapshot(db.prisma, orgId, hostId, 1, makeSampleInventory({ collectedAt: now }), now);
    await db.prisma.auditEvent.createMany({
      data: [
        { orgId, id: 'a-old', at: new Date(now.getTime() - 800 * DAY_MS), actor: 'u', action: 'x' },
        { orgId, id: 'a-new', at: new Date(now.getTime() - 10 * DAY_MS), actor: 'u', action: 'x' },
      ],
    });
    await db.prisma.fleetUsageDaily.createMany({
      data: [800, 20].map((days) => ({
        orgId,
        day: new Date(now.getTime() - days * DAY_MS),
        hosts: 1,
        imagesBytes: 1n,
        containersBytes: 1n,
        containerLogsBytes: 1n,
        volumesBytes: 1n,
        buildCacheBytes: 1n,
      })),
    });

    const cutoff = new Date(now.getTime() - 90 * DAY_MS);
    const expectedHourly = hours.filter((hour) => hour < cutoff).length;
    const result = await pruneHistory(db.prisma, { hourlyDays: 90, fleetDailyDays: 730, auditDays: 730 }, now);
    expect(result).toEqual({ hourly: expectedHourly, fleetDaily: 1, audit: 1 });
    expect(await db.prisma.hostUsageHourly.count({ where: { hour: { lt: cutoff } } })).toBe(0);
    expect(await db.prisma.hostUsageHourly.count()).toBe(hours.length - expectedHourly + 1);
    expect((await db.prisma.auditEvent.findMany({ select: { id: true } })).map((e) => e.id)).toEqual(['a-new']);
    expect(await db.prisma.hostInventory.count()).toBe(1);
    // Nothing left to prune: a second pass deletes nothing.
    expect(await pruneHistory(db.prisma, { hourlyDays: 90, fleetDailyDays: 730, auditDays: 730 }, now)).toEqual({
      hourly: 0,
      fleetDaily: 0,
      audit: 0,
    });
  });
});
