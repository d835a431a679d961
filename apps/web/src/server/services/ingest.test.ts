import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Database, joinInventoryDocument, openDatabase } from '@ballast/db';
import { createTestDatabase } from '@ballast/db/test/pg';
import { applyInventoryDelta, diffInventories, type Inventory } from '@ballast/shared';
import { makeSampleInventory } from '@ballast/shared/sample-inventory';
import { computeOpportunities, DEFAULT_SAVINGS_POLICY } from '@ballast/shared/savings/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetOverview, imagesAcrossFleet, LIST_OBJECTS, listOpportunities, ZOpportunityListInput } from './fleet';
import { hostDetail } from './host-detail';
import { listHosts } from './hosts';
import { ingestReading, markDisconnected, OPPORTUNITY_REFRESH_MS, recordSnapshot, registerHost } from './ingest';
import { ensureDefaultOrganization } from './organizations';
import { updateSavingsPolicy } from './savings-policy';

/** The same ingest path against both database modes the server supports. */
const modes = [
  {
    name: 'PostgreSQL server',
    open: async () => {
      const database = await createTestDatabase();
      const db = await openDatabase({ databaseUrl: database.url, dataDir: '/nonexistent' });
      return { db, cleanup: database.drop };
    },
  },
  {
    name: 'embedded PGlite',
    open: async () => {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'ballast-embedded-'));
      const db = await openDatabase({ dataDir });
      return { db, cleanup: async () => rmSync(dataDir, { recursive: true, force: true }) };
    },
  },
];

describe.each(modes)('ingest on $name', ({ open }) => {
  let db: Database;
  let cleanup: () => Promise<void>;
  let orgId: string;

  beforeAll(async () => {
    ({ db, cleanup } = await open());
    orgId = (await ensureDefaultOrganization(db.prisma)).id;
  });

  afterAll(async () => {
    await db?.close();
    await cleanup?.();
  });

  it('registers a host once per machine ID and keeps it across re-registration', async () => {
    const hello = { machineId: 'machine-a', hostname: 'alpha', agentVersion: '0.1.0' };
    const first = await registerHost(db.prisma, orgId, hello);
    const second = await registerHost(db.prisma, orgId, { ...hello, hostname: 'alpha-renamed' });
    expect(second.hostId).toBe(first.hostId);
    const hosts = await listHosts(db.prisma, orgId);
    expect(hosts.filter((h) => h.machineId === 'machine-a')).toHaveLength(1);
    expect(hosts.find((h) => h.id === first.hostId)?.hostname).toBe('alpha-renamed');
  });

  it('stores the latest totals exactly and folds snapshots into hourly history', async () => {
    const { hostId } = await registerHost(db.prisma, orgId, {
      machineId: 'machine-b',
      hostname: 'beta',
      agentVersion: '0.1.0',
    });
    const collectedAt = new Date('2026-03-01T10:15:00Z');
    const inventory = makeSampleInventory({ machineId: 'machine-b', hostname: 'beta', collectedAt });
    // A value above 2^32 proves the BigInt columns round-trip exactly.
    inventory.totals.imagesBytes = 123_456_789_012;
    await recordSnapshot(db.prisma, orgId, hostId, 1, inventory);
    const later = makeSampleInventory({
      machineId: 'machine-b',
      hostname: 'beta',
      collectedAt: new Date('2026-03-01T10:45:00Z'),
    });
    later.totals.containerLogsBytes = 77_777;
    await recordSnapshot(db.prisma, orgId, hostId, 2, later);

    const host = (await listHosts(db.prisma, orgId)).find((h) => h.id === hostId);
    expect(host?.latest).toMatchObject({
      imagesBytes: 3_000_000,
      containerLogsBytes: 77_777,
      volumesBytes: 5_000,
      buildCacheBytes: 7_000,
      fsSizeBytes: 100_000_000_000,
      fsUsedBytes: 40_000_000_000,
      fsFreeBytes: 55_000_000_000,
      imageCount: 2,
    });
    expect(host?.engineVersion).toBe('20.10.24');

    const history = await db.prisma.hostUsageHourly.findMany({ where: { orgId, hostId } });
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({
      samples: 2,
      containerLogsBytes: 77_777n,
      hour: new Date('2026-03-01T10:00:00Z'),
    });

    await recordSnapshot(db.prisma, orgId, hostId, 3, inventory);
    const first = await db.prisma.hostInventory.findUniqueOrThrow({ where: { orgId_hostId: { orgId, hostId } } });
    expect(first.imagesBytes).toBe(123_456_789_012n);
    expect(first.seq).toBe(3n);
  });

  it("replaces the host's stored opportunities at each snapshot, with the organization's policy", async () => {
    const { hostId } = await registerHost(db.prisma, orgId, {
      machineId: 'machine-opp',
      hostname: 'opp',
      agentVersion: '0.1.0',
    });
    const collectedAt = new Date('2026-03-01T10:00:00Z');
    const inventory = makeSampleInventory({ machineId: 'machine-opp', hostname: 'opp', collectedAt });
    await recordSnapshot(db.prisma, orgId, hostId, 1, inventory);
    const expected = computeOpportunities(inventory, DEFAULT_SAVINGS_POLICY, collectedAt);
    expect(expected.length).toBeGreaterThan(0);
    const stored = await db.prisma.hostOpportunity.findMany({ where: { orgId, hostId }, orderBy: { kind: 'asc' } });
    expect(stored.map((o) => [o.kind, Number(o.reclaimableBytes), o.monthlyCost])).toEqual(
      expected
        .map((o) => [o.kind, o.reclaimableBytes, o.monthlyCost])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );

    // A policy price change shows at the next snapshot; a vanished opportunity leaves no row.
    await updateSavingsPolicy(db.prisma, orgId, 'user:test', { ...DEFAULT_SAVINGS_POLICY, pricePerGbMonth: 5 });
    const later = makeSampleInventory({ machineId: 'machine-opp', hostname: 'opp', collectedAt });
    later.containers = later.containers.filter((c) => c.state === 'running');
    await recordSnapshot(db.prisma, orgId, hostId, 2, later);
    const expectedLater = computeOpportunities(later, { ...DEFAULT_SAVINGS_POLICY, pricePerGbMonth: 5 }, collectedAt);
    const storedLater = await db.prisma.hostOpportunity.findMany({ where: { orgId, hostId } });
    expect(storedLater.map((o) => o.kind).sort()).toEqual(expectedLater.map((o) => o.kind).sort());
    expect(storedLater.map((o) => o.kind)).not.toContain('containers.stopped');
    for (const row of storedLater) {
      expect(row.monthlyCost).toBeCloseTo((Number(row.reclaimableBytes) / 1e9) * 5, 12);
    }
    await updateSavingsPolicy(db.prisma, orgId, 'user:test', DEFAULT_SAVINGS_POLICY);
  });

  it("answers the dashboard's SQL aggregations (jsonb, regr_slope, DISTINCT ON) in this mode", async () => {
    const { hostId } = await registerHost(db.prisma, orgId, {
      machineId: 'machine-sql',
      hostname: 'sql',
      agentVersion: '0.1.0',
    });
    const now = new Date();
    for (let h = 2; h >= 0; h--) {
      const inventory = makeSampleInventory({
        machineId: 'machine-sql',
        hostname: 'sql',
        collectedAt: new Date(now.getTime() - h * 3_600_000),
      });
      if (inventory.filesystem) inventory.filesystem.usedBytes += (2 - h) * 1_000_000_000;
      // An unrotated log growing 100 MB an hour.
      const logBytes = 1_000_000_000 + (2 - h) * 100_000_000;
      const web = inventory.containers[0];
      if (web) web.logBytes = logBytes;
      inventory.totals.containerLogsBytes = logBytes;
      await recordSnapshot(db.prisma, orgId, hostId, 3 - h, inventory, new Date(now.getTime() - h * 3_600_000));
    }
    const logs = await listOpportunities(
      db.prisma,
      orgId,
      ZOpportunityListInput.parse({ hostId, kind: 'logs.unbounded' }),
    );
    expect(logs[0]?.logGrowthBytesPerDay).toBeCloseTo(2_400_000_000, -3);
    const overview = await fleetOverview(db.prisma, orgId, now);
    expect(overview.nearestToFull.map((h) => h.hostname)).toContain('sql');
    expect(overview.trend.length).toBeGreaterThan(0);
    const images = await imagesAcrossFleet(db.prisma, orgId, { search: 'app:1', limit: 10 });
    expect(images[0]?.runningOn).toContain('sql');
    const detail = await hostDetail(db.prisma, orgId, hostId, now);
    expect(detail.forecast.growthBytesPerDay).toBeCloseTo(24_000_000_000, -3);
  });

  it("keeps finished days' fleet totals and refreshes a day a late snapshot lands in", async () => {
    const org = await db.prisma.organization.create({ data: { id: 'org_trend', slug: 'trend', name: 'Trend' } });
    const GB = 1_000_000_000;
    const now = new Date('2026-01-10T12:00:00.000Z');
    const at = (iso: string) => new Date(iso);
    const hosts: Record<string, string> = {};
    let seq = 0;
    const snapshot = async (hostname: string, collectedAt: Date, usedBytes: number) => {
      hosts[hostname] ??= (
        await registerHost(db.prisma, org.id, { machineId: `m-${hostname}`, hostname, agentVersion: '0.1.0' })
      ).hostId;
      const inventory = makeSampleInventory({ machineId: `m-${hostname}`, hostname, collectedAt });
      if (inventory.filesystem) inventory.filesystem.usedBytes = usedBytes;
      seq += 1;
      await recordSnapshot(db.prisma, org.id, hosts[hostname] as string, seq, inventory, now);
    };
    const docker = (() => {
      const t = makeSampleInventory().totals;
      return t.imagesBytes + t.containersBytes + t.containerLogsBytes + t.volumesBytes + t.buildCacheBytes;
    })();
    await snapshot('x', at('2026-01-08T10:00:00Z'), 10 * GB);
    await snapshot('x', at('2026-01-08T20:00:00Z'), 12 * GB);
    await snapshot('y', at('2026-01-09T12:00:00Z'), 5 * GB);
    await snapshot('x', at('2026-01-09T09:00:00Z'), 15 * GB);
    await snapshot('x', at('2026-01-10T11:00:00Z'), 16 * GB);

    const trend = (await fleetOverview(db.prisma, org.id, now)).trend;
    expect(trend).toEqual([
      { day: at('2026-01-08T00:00:00Z'), usedBytes: 12 * GB, dockerBytes: docker, hosts: 1 },
      { day: at('2026-01-09T00:00:00Z'), usedBytes: 20 * GB, dockerBytes: 2 * docker, hosts: 2 },
      { day: at('2026-01-10T00:00:00Z'), usedBytes: 16 * GB, dockerBytes: docker, hosts: 1 },
    ]);
    // Finished days are stored once; today never is.
    const stored = await db.prisma.fleetUsageDaily.findMany({ where: { orgId: org.id }, orderBy: { day: 'asc' } });
    expect(
      stored.filter((row) => row.hosts > 0).map((row) => [row.day.toISOString(), Number(row.fsUsedBytes), row.hosts]),
    ).toEqual([
      ['2026-01-08T00:00:00.000Z', 12 * GB, 1],
      ['2026-01-09T00:00:00.000Z', 20 * GB, 2],
    ]);
    // The other 28 finished days of the window had no readings: stored empty, not recomputed each time.
    expect(stored).toHaveLength(30);
    expect(stored.filter((row) => row.hosts === 0).every((row) => row.fsUsedBytes === null)).toBe(true);

    // y replays a reading of the 8th it could not send then: that day is recomputed.
    await snapshot('y', at('2026-01-08T23:00:00Z'), 7 * GB);
    const after = (await fleetOverview(db.prisma, org.id, now)).trend;
    expect(after[0]).toEqual({
      day: at('2026-01-08T00:00:00Z'),
      usedBytes: 19 * GB,
      dockerBytes: 2 * docker,
      hosts: 2,
    });
    expect(after[1]).toEqual(trend[1]);
  });

  it('lists the largest objects of each opportunity and how many there are in all', async () => {
    const org = await db.prisma.organization.create({ data: { id: 'org_objects', slug: 'objects', name: 'Objects' } });
    const { hostId } = await registerHost(db.prisma, org.id, {
      machineId: 'm-obj',
      hostname: 'obj',
      agentVersion: '0.1.0',
    });
    const inventory = makeSampleInventory({ machineId: 'm-obj', hostname: 'obj' });
    const template = inventory.images[1];
    if (!template) throw new Error('sample inventory changed');
    for (let n = 0; n < 30; n++) {
      const id = `sha256:${n.toString(16).padStart(64, 'e')}`;
      inventory.images.push({
        ...template,
        id,
        repoTags: [],
        dangling: true,
        containerIds: [],
        diffIds: [id],
        chainIds: [id],
        exclusiveBytes: (n + 1) * 1_000_000,
        sizeBytes: (n + 1) * 1_000_000,
        sharedBytes: 0,
      });
      inventory.layers.push({
        chainId: id,
        diffId: id,
        cacheId: n.toString(16).padStart(64, 'c'),
        sizeBytes: (n + 1) * 1_000_000,
        apparentBytes: (n + 1) * 1_000_000,
        allocatedBytes: (n + 1) * 1_000_000,
        imageIds: [id],
      });
    }
    await recordSnapshot(db.prisma, org.id, hostId, 1, inventory);
    const list = await listOpportunities(db.prisma, org.id, ZOpportunityListInput.parse({ kind: 'images.dangling' }));
    expect(list).toHaveLength(1);
    const dangling = list[0];
    expect(dangling?.objectCount).toBe(30);
    expect(dangling?.objects.map((o) => o.bytes)).toEqual(
      Array.from({ length: LIST_OBJECTS }, (_, n) => (30 - n) * 1_000_000),
    );
    expect(dangling?.reclaimableBytes).toBe((30 * 31 * 1_000_000) / 2);
  });

  it('applies a delta in the database exactly as the agent applies it, order included', async () => {
    const machineId = 'machine-delta';
    const { hostId } = await registerHost(db.prisma, orgId, { machineId, hostname: 'delta', agentVersion: '0.1.0' });
    const base = makeSampleInventory({ machineId, hostname: 'delta', collectedAt: new Date('2026-03-02T10:00:00Z') });
    const image = (n: number) => ({
      ...(base.images[1] as Inventory['images'][number]),
      id: `sha256:${'e'.repeat(63)}${n}`,
      sizeBytes: n * 1_000,
    });
    base.images.push(image(1), image(2), image(3));
    await ingestReading(db.prisma, orgId, hostId, { type: 'snapshot', stream: 's', seq: 1, inventory: base });

    // Replace one in the middle, remove another, append two, change a figure and drop a field.
    const next = structuredClone(base);
    next.collectedAt = '2026-03-02T10:01:00.000Z';
    (next.images[2] as Inventory['images'][number]).sizeBytes = 42;
    next.images.splice(3, 1);
    next.images.push(image(5), image(4));
    next.volumes = [];
    next.totals.imagesBytes = 9_999;
    delete (next as Partial<Inventory>).waste;
    const delta = diffInventories(base, next);
    const expected = applyInventoryDelta(base, delta);
    if (!expected.ok) throw new Error(expected.reason);
    const outcome = await ingestReading(db.prisma, orgId, hostId, {
      type: 'delta',
      stream: 's',
      seq: 2,
      baseSeq: 1,
      delta,
    });
    expect(outcome).toEqual({ status: 'stored' });
    const where = { orgId_hostId: { orgId, hostId } };
    const row = await db.prisma.hostInventory.findUniqueOrThrow({ where, include: { entities: true } });
    const stored = joinInventoryDocument(row.inventory, row.entities);
    expect(stored).toEqual(JSON.parse(JSON.stringify(expected.inventory)));
    expect((stored.images as Inventory['images']).map((i) => i.sizeBytes)).toEqual([
      3_000_000, 2_000_000, 42, 3_000, 5_000, 4_000,
    ]);
    expect(row).toMatchObject({ seq: 2n, imagesBytes: 9_999n, volumeCount: next.totals.volumeCount });
    expect(row.collectedAt).toEqual(new Date(next.collectedAt));

    // A delta removing what the stored reading lacks changes nothing and asks for a snapshot.
    const bad = diffInventories(next, { ...next, collectedAt: '2026-03-02T10:02:00.000Z', volumes: [] });
    bad.volumes = { put: [], remove: ['never-there'] };
    bad.images = { put: [image(7)], remove: [] };
    const refused = await ingestReading(db.prisma, orgId, hostId, {
      type: 'delta',
      stream: 's',
      seq: 3,
      baseSeq: 2,
      delta: bad,
    });
    expect(refused).toEqual({
      status: 'resync',
      reason: expect.stringContaining('volumes: never-there is not in the base'),
    });
    const after = await db.prisma.hostInventory.findUniqueOrThrow({ where, include: { entities: true } });
    expect(joinInventoryDocument(after.inventory, after.entities)).toEqual(stored);
    expect(after.seq).toBe(2n);
    const samples = await db.prisma.hostUsageHourly.findMany({ where: { orgId, hostId } });
    expect(samples.map((h) => h.samples)).toEqual([2]);
  });

  it('recomputes opportunities at every snapshot and at most every few minutes of deltas, sooner after a policy change', async () => {
    const machineId = 'machine-refresh';
    const { hostId } = await registerHost(db.prisma, orgId, { machineId, hostname: 'refresh', agentVersion: '0.1.0' });
    const t0 = Date.parse('2026-03-03T10:00:00Z');
    const at = (ms: number) => new Date(t0 + ms);
    const first = makeSampleInventory({ machineId, hostname: 'refresh', collectedAt: at(0) });
    await ingestReading(db.prisma, orgId, hostId, { type: 'snapshot', stream: 'r', seq: 1, inventory: first }, at(0));
    const kinds = async () =>
      (await db.prisma.hostOpportunity.findMany({ where: { orgId, hostId } })).map((o) => o.kind).sort();
    expect(await kinds()).toContain('containers.stopped');

    let seq = 1;
    let previous = first;
    const send = async (change: (inventory: Inventory) => void, receivedMs: number) => {
      const next = structuredClone(previous);
      next.collectedAt = at(receivedMs).toISOString();
      change(next);
      seq += 1;
      const outcome = await ingestReading(
        db.prisma,
        orgId,
        hostId,
        { type: 'delta', stream: 'r', seq, baseSeq: seq - 1, delta: diffInventories(previous, next) },
        at(receivedMs),
      );
      expect(outcome.status).toBe('stored');
      previous = next;
    };
    // The build cache is pruned a minute later: its opportunity lags until the refresh is due.
    expect(await kinds()).toContain('buildCache.reclaimable');
    await send((i) => {
      i.buildCache = { ...i.buildCache, records: 0, totalBytes: 0, reclaimableBytes: 0, byType: {} };
      i.totals.buildCacheBytes = 0;
    }, 60_000);
    expect(await kinds()).toContain('buildCache.reclaimable');
    await send(() => {}, OPPORTUNITY_REFRESH_MS);
    expect(await kinds()).not.toContain('buildCache.reclaimable');
    const expected = computeOpportunities(previous, DEFAULT_SAVINGS_POLICY, at(OPPORTUNITY_REFRESH_MS));
    expect(await kinds()).toEqual(expected.map((o) => o.kind).sort());

    // A policy change applies at the very next delta, not at the refresh.
    const before = await kinds();
    expect(before).toContain('containers.stopped');
    const policy = { ...DEFAULT_SAVINGS_POLICY, stoppedContainerMinAgeDays: 3650, pricePerGbMonth: 7 };
    await updateSavingsPolicy(db.prisma, orgId, 'user:test', policy);
    await send(() => {}, OPPORTUNITY_REFRESH_MS + 60_000);
    const protectedKinds = computeOpportunities(previous, policy, at(OPPORTUNITY_REFRESH_MS + 60_000))
      .map((o) => o.kind)
      .sort();
    expect(protectedKinds).not.toEqual(before);
    expect(await kinds()).toEqual(protectedKinds);
    const priced = await db.prisma.hostOpportunity.findMany({ where: { orgId, hostId } });
    for (const row of priced) expect(row.monthlyCost).toBeCloseTo((Number(row.reclaimableBytes) / 1e9) * 7, 12);
    await updateSavingsPolicy(db.prisma, orgId, 'user:test', DEFAULT_SAVINGS_POLICY);
  });

  it('marks a host offline on disconnect', async () => {
    const { hostId } = await registerHost(db.prisma, orgId, {
      machineId: 'machine-c',
      hostname: 'gamma',
      agentVersion: '0.1.0',
    });
    expect((await listHosts(db.prisma, orgId)).find((h) => h.id === hostId)?.connected).toBe(true);
    await markDisconnected(db.prisma, orgId, hostId);
    expect((await listHosts(db.prisma, orgId)).find((h) => h.id === hostId)?.connected).toBe(false);
  });

  it('never shows one organization the hosts of another', async () => {
    const other = await db.prisma.organization.create({ data: { id: 'org_other_test', slug: 'other', name: 'Other' } });
    await registerHost(db.prisma, other.id, { machineId: 'machine-a', hostname: 'other-alpha', agentVersion: '0.1.0' });
    const mine = await listHosts(db.prisma, orgId);
    const theirs = await listHosts(db.prisma, other.id);
    expect(theirs.map((h) => h.hostname)).toEqual(['other-alpha']);
    expect(mine.map((h) => h.hostname)).not.toContain('other-alpha');
  });
});
