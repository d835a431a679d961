// The fleet, opportunity, host detail, image and savings policy procedures, through the
// router against a real PostgreSQL database; expected figures come from the savings engine
// and the inventories themselves, not from the queries under test.
import type { Inventory } from '@ballast/shared';
import { makeSampleInventory } from '@ballast/shared/sample-inventory';
import { computeOpportunities, DEFAULT_SAVINGS_POLICY } from '@ballast/shared/savings/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordSnapshot, registerHost } from '../services/ingest';
import { createWorld, type World } from '../testing/world';
import { createCallerFactory } from './init';
import { appRouter } from './root';

const HOUR_MS = 3_600_000;
const GB = 1_000_000_000;
const createCaller = createCallerFactory(appRouter);
let world: World;
const hostIds: Record<string, string> = {};
const latest: Record<string, Inventory> = {};

/** `growthPerHour` bytes more used every hour for `hours` hours, ending now. */
async function seedHost(hostname: string, labels: Record<string, string>, usedStart: number, growthPerHour: number) {
  const machineId = `m-${hostname}`;
  const { hostId } = await registerHost(world.db.prisma, world.orgA, { machineId, hostname, agentVersion: '0.1.0' });
  hostIds[hostname] = hostId;
  const now = Date.now();
  for (let h = 5; h >= 0; h--) {
    const inventory = makeSampleInventory({ machineId, hostname, collectedAt: new Date(now - h * HOUR_MS) });
    inventory.host.labels = labels;
    const fs = inventory.filesystem;
    if (fs) {
      fs.usedBytes = usedStart + (5 - h) * growthPerHour;
      fs.freeBytes = fs.sizeBytes - fs.usedBytes;
    }
    if (hostname === 'big') {
      // A larger unbounded log makes this host's opportunity the most valuable one.
      const web = inventory.containers[0];
      if (web) web.logBytes = 40 * GB;
      inventory.totals.containerLogsBytes = 40 * GB;
    }
    await recordSnapshot(world.db.prisma, world.orgA, hostId, 6 - h, inventory, new Date(now - h * HOUR_MS));
    latest[hostname] = inventory;
  }
}

beforeAll(async () => {
  world = await createWorld();
  await seedHost('big', { env: 'prod' }, 60 * GB, GB);
  await seedHost('small', { env: 'staging' }, 20 * GB, 0.1 * GB);
  await seedHost('flat', { env: 'prod' }, 30 * GB, 0);
});

afterAll(async () => {
  await world?.close();
});

const viewer = () => createCaller(world.session(world.a.viewer, world.orgA));
const expectedOpportunities = (hostname: string) => {
  const inventory = latest[hostname];
  if (!inventory) throw new Error(`no inventory for ${hostname}`);
  return computeOpportunities(inventory, DEFAULT_SAVINGS_POLICY, new Date(inventory.collectedAt));
};

describe('fleet.overview', () => {
  it('sums the fleet, ranks opportunities and forecasts the hosts nearest to full', async () => {
    const overview = await viewer().fleet.overview();
    const inventories = Object.values(latest);
    expect(overview.hostCount).toBe(3);
    expect(overview.usedBytes).toBe(inventories.reduce((sum, i) => sum + (i.filesystem?.usedBytes ?? 0), 0));
    expect(overview.byCategory.containerLogsBytes).toBe(
      inventories.reduce((sum, i) => sum + i.totals.containerLogsBytes, 0),
    );
    const all = ['big', 'small', 'flat'].flatMap(expectedOpportunities);
    expect(overview.reclaimableBytes).toBe(all.reduce((sum, o) => sum + o.reclaimableBytes, 0));
    expect(overview.monthlyCost).toBeCloseTo(
      all.reduce((sum, o) => sum + o.monthlyCost, 0),
      9,
    );
    expect(overview.topOpportunities.length).toBe(Math.min(10, all.length));
    expect(overview.topOpportunities[0]).toMatchObject({ hostname: 'big', kind: 'logs.unbounded' });
    const costs = overview.topOpportunities.map((o) => o.monthlyCost);
    expect(costs).toEqual([...costs].sort((a, b) => b - a));

    // The trend has the latest day's sum of every host's last reading.
    const today = overview.trend.at(-1);
    expect(today?.hosts).toBeGreaterThanOrEqual(1);

    // 'flat' does not grow, so it is never forecast; 'big' fills first (40 GB free at 24 GB/day).
    expect(overview.nearestToFull.map((h) => h.hostname)).toEqual(['big', 'small']);
    const big = overview.nearestToFull[0];
    expect(big?.growthBytesPerDay).toBeCloseTo(24 * GB, -3);
    expect(big?.daysUntilFull).toBeCloseTo((100 * GB - 65 * GB) / (24 * GB), 6);
  });

  it('shows another organization nothing of this one', async () => {
    const overview = await createCaller(world.session(world.bAdmin)).fleet.overview();
    expect(overview).toMatchObject({ hostCount: 0, usedBytes: 0, reclaimableBytes: 0, topOpportunities: [] });
    expect(overview.nearestToFull).toEqual([]);
  });
});

describe('opportunity.list', () => {
  it('sorts by cost or bytes in either direction', async () => {
    const byCost = await viewer().opportunity.list({ sort: 'monthlyCost', direction: 'desc' });
    expect(byCost.map((o) => o.monthlyCost)).toEqual(byCost.map((o) => o.monthlyCost).sort((a, b) => b - a));
    const byBytesAsc = await viewer().opportunity.list({ sort: 'reclaimableBytes', direction: 'asc' });
    expect(byBytesAsc.map((o) => o.reclaimableBytes)).toEqual(
      byBytesAsc.map((o) => o.reclaimableBytes).sort((a, b) => a - b),
    );
    expect(byCost).toHaveLength(['big', 'small', 'flat'].flatMap(expectedOpportunities).length);
  });

  it('filters by kind, risk and host label', async () => {
    const logs = await viewer().opportunity.list({ kind: 'logs.unbounded' });
    expect(logs.map((o) => o.hostname).sort()).toEqual(['big', 'flat', 'small']);
    const prod = await viewer().opportunity.list({ hostLabel: 'env=prod' });
    expect(new Set(prod.map((o) => o.hostname))).toEqual(new Set(['big', 'flat']));
    const anyEnv = await viewer().opportunity.list({ hostLabel: 'env' });
    expect(anyEnv).toHaveLength((await viewer().opportunity.list({})).length);
    const none = await viewer().opportunity.list({ hostLabel: 'team' });
    expect(none).toEqual([]);
    const low = await viewer().opportunity.list({ risk: 'low' });
    expect(low.every((o) => o.risk === 'low')).toBe(true);
  });
});

describe('host.detail', () => {
  it('returns the inventory, opportunities, history and forecast of one host', async () => {
    const detail = await viewer().host.detail({ id: hostIds.big ?? '' });
    const inventory = latest.big;
    expect(detail.host.hostname).toBe('big');
    expect(detail.host.labels).toEqual({ env: 'prod' });
    expect(detail.inventory?.totals).toEqual(inventory?.totals);
    expect(detail.inventory?.images.map((i) => [i.id, i.exclusiveBytes, i.sharedBytes])).toEqual(
      inventory?.images.map((i) => [i.id, i.exclusiveBytes, i.sharedBytes]),
    );
    expect(detail.inventory?.volumes.map((v) => v.sizeBytes)).toEqual(inventory?.volumes.map((v) => v.sizeBytes));
    expect(detail.opportunities.map((o) => o.kind).sort()).toEqual(
      expectedOpportunities('big')
        .map((o) => o.kind)
        .sort(),
    );
    expect(detail.history.length).toBeGreaterThanOrEqual(5);
    expect(detail.forecast.growthBytesPerDay).toBeCloseTo(24 * GB, -3);
    expect(detail.forecast.daysUntilFull).not.toBeNull();
    // Only the disk grew (the categories were constant), so all growth is outside Docker.
    expect(detail.forecast.growthByCategory.otherBytes).toBeCloseTo(24 * GB, -3);
    expect(detail.forecast.growthByCategory.imagesBytes).toBeCloseTo(0, 6);
    // First action: the lowest-risk one with an action that frees the most.
    const risk = { low: 0, medium: 1, high: 2 } as const;
    const candidates = expectedOpportunities('big')
      .filter((o) => o.action !== null && o.reclaimableBytes > 0)
      .sort((a, b) => risk[a.risk] - risk[b.risk] || b.reclaimableBytes - a.reclaimableBytes);
    expect(detail.forecast.best?.kind).toBe(candidates[0]?.kind);
    expect(detail.forecast.best?.daysBought).toBeCloseTo(
      (candidates[0]?.reclaimableBytes ?? 0) / detail.forecast.growthBytesPerDay,
      9,
    );
  });

  it("answers NOT_FOUND for another organization's host", async () => {
    await expect(
      createCaller(world.session(world.bAdmin)).host.detail({ id: hostIds.big ?? '' }),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});

describe('image.fleet', () => {
  it('groups the same image across hosts, with total bytes and where it runs', async () => {
    const images = await viewer().image.fleet({});
    const app = images.find((i) => i.tags.includes('app:1'));
    const appImage = latest.big?.images.find((i) => i.repoTags.includes('app:1'));
    expect(app).toEqual({
      imageId: appImage?.id,
      tags: ['app:1'],
      hostCount: 3,
      totalBytes: 3 * (appImage?.sizeBytes ?? 0),
      exclusiveBytes: 3 * (appImage?.exclusiveBytes ?? 0),
      runningOn: ['big', 'flat', 'small'],
    });
    // base:1 only has an exited container: it runs nowhere.
    expect(images.find((i) => i.tags.includes('base:1'))?.runningOn).toEqual([]);
    expect((await viewer().image.fleet({ search: 'base' })).map((i) => i.tags)).toEqual([['base:1']]);
    expect(await createCaller(world.session(world.bAdmin)).image.fleet({})).toEqual([]);
  });
});

describe('settings.policy', () => {
  it('returns the defaults until an admin saves a policy, and audits the change', async () => {
    const admin = createCaller(world.session(world.a.admin, world.orgA));
    expect(await admin.settings.policy.get()).toEqual(DEFAULT_SAVINGS_POLICY);
    const saved = await admin.settings.policy.update({
      ...DEFAULT_SAVINGS_POLICY,
      pricePerGbMonth: 0.25,
      protectedImagePatterns: ['registry.example.com/*'],
    });
    expect(saved.pricePerGbMonth).toBe(0.25);
    // Stored costs follow the new price without waiting for the next snapshot.
    const repriced = await admin.opportunity.list({});
    expect(repriced.length).toBeGreaterThan(0);
    for (const o of repriced) expect(o.monthlyCost).toBe((o.reclaimableBytes / 1e9) * 0.25);
    expect(await admin.settings.policy.get()).toMatchObject({
      pricePerGbMonth: 0.25,
      protectedImagePatterns: ['registry.example.com/*'],
    });
    const audit = await admin.organization.auditLog({ limit: 5 });
    expect(audit[0]?.action).toBe('savings.policy.update');
    await expect(admin.settings.policy.update({ ...DEFAULT_SAVINGS_POLICY, pricePerGbMonth: -1 })).rejects.toThrow();
    await admin.settings.policy.update(DEFAULT_SAVINGS_POLICY);
  });

  it("reprices each host at its group's price, and filters and sums by group", async () => {
    const admin = createCaller(world.session(world.a.admin, world.orgA));
    // Groups by the `env` label: prod disks cost 0.5, staging has no price of its own.
    await admin.settings.policy.update({
      ...DEFAULT_SAVINGS_POLICY,
      pricePerGbMonth: 0.2,
      groupLabel: 'env',
      groupPrices: { prod: 0.5 },
    });
    const all = await admin.opportunity.list({});
    const price = (hostname: string) => (hostname === 'small' ? 0.2 : 0.5);
    for (const o of all) expect(o.monthlyCost).toBeCloseTo((o.reclaimableBytes / 1e9) * price(o.hostname), 12);

    const prod = await admin.opportunity.list({ group: 'prod' });
    expect(new Set(prod.map((o) => o.hostname))).toEqual(new Set(['big', 'flat']));

    const byGroup = await admin.opportunity.summary({ by: 'group' });
    const sumOf = (hosts: string[]) => all.filter((o) => hosts.includes(o.hostname));
    const expected = [
      { key: 'prod', list: sumOf(['big', 'flat']), hosts: 2 },
      { key: 'staging', list: sumOf(['small']), hosts: 1 },
    ].map(({ key, list, hosts }) => ({
      key,
      label: null,
      hosts,
      opportunities: list.length,
      reclaimableBytes: list.reduce((sum, o) => sum + o.reclaimableBytes, 0),
      monthlyCost: list.reduce((sum, o) => sum + o.monthlyCost, 0),
    }));
    expect(byGroup.map((row) => ({ ...row, monthlyCost: Number(row.monthlyCost.toFixed(9)) }))).toEqual(
      expected
        .map((row) => ({ ...row, monthlyCost: Number(row.monthlyCost.toFixed(9)) }))
        .sort((a, b) => b.monthlyCost - a.monthlyCost),
    );

    const byKind = await admin.opportunity.summary({ by: 'kind' });
    expect(byKind.reduce((sum, row) => sum + row.opportunities, 0)).toBe(all.length);
    const logs = byKind.find((row) => row.key === 'logs.unbounded');
    expect(logs?.hosts).toBe(3);

    const byImage = await admin.opportunity.summary({ by: 'image' });
    const imageObjects = all
      .filter((o) => o.kind === 'images.dangling' || o.kind === 'images.unused')
      .flatMap((o) => o.objects);
    expect(byImage.reduce((sum, row) => sum + row.reclaimableBytes, 0)).toBe(
      imageObjects.reduce((sum, o) => sum + o.bytes, 0),
    );
    await admin.settings.policy.update(DEFAULT_SAVINGS_POLICY);
  });
});
