import { describe, expect, it } from 'vitest';
import type { Image, Inventory } from '../inventory.js';
import { makeSampleInventory } from '../sample-inventory.js';
import { bytesFreedByRemovingImages, computeOpportunities } from './opportunities.js';
import { DEFAULT_SAVINGS_POLICY, globToRegExp, monthlyCost } from './policy.js';

const now = new Date('2026-06-01T00:00:00Z');
const sha = (c: string) => `sha256:${c.repeat(64)}`;

function image(id: string, overrides: Partial<Image> = {}): Image {
  return {
    id,
    repoTags: [],
    repoDigests: [],
    createdAt: '2026-01-01T00:00:00.000Z',
    labels: {},
    dangling: false,
    parentId: null,
    diffIds: [],
    chainIds: [],
    sizeBytes: 0,
    exclusiveBytes: 0,
    sharedBytes: 0,
    containerIds: [],
    lastUsedAt: null,
    buildCacheHeld: false,
    ...overrides,
  };
}

/** Three images over a shared base: app:1 and app:2 share a middle layer only with each other. */
function fleetInventory(): Inventory {
  const inv = makeSampleInventory();
  const [base, mid, top1, top2, dang] = ['a', 'b', 'c', 'd', 'e'].map(sha) as [string, string, string, string, string];
  inv.images = [
    image(sha('1'), {
      repoTags: ['app:1'],
      createdAt: '2026-01-01T00:00:00Z',
      chainIds: [base, mid, top1],
      exclusiveBytes: 300,
    }),
    image(sha('2'), {
      repoTags: ['app:2'],
      createdAt: '2026-02-01T00:00:00Z',
      chainIds: [base, mid, top2],
      exclusiveBytes: 400,
    }),
    image(sha('3'), { repoTags: ['app:3'], createdAt: '2026-03-01T00:00:00Z', chainIds: [base], containerIds: ['c1'] }),
    image(sha('4'), { dangling: true, chainIds: [base, dang], exclusiveBytes: 50 }),
  ];
  inv.layers = [
    {
      chainId: base,
      diffId: base,
      cacheId: null,
      sizeBytes: 1000,
      apparentBytes: null,
      allocatedBytes: null,
      imageIds: [sha('1'), sha('2'), sha('3'), sha('4')],
    },
    {
      chainId: mid,
      diffId: mid,
      cacheId: null,
      sizeBytes: 200,
      apparentBytes: null,
      allocatedBytes: null,
      imageIds: [sha('1'), sha('2')],
    },
    {
      chainId: top1,
      diffId: top1,
      cacheId: null,
      sizeBytes: 300,
      apparentBytes: null,
      allocatedBytes: null,
      imageIds: [sha('1')],
    },
    {
      chainId: top2,
      diffId: top2,
      cacheId: null,
      sizeBytes: 400,
      apparentBytes: null,
      allocatedBytes: null,
      imageIds: [sha('2')],
    },
    {
      chainId: dang,
      diffId: dang,
      cacheId: null,
      sizeBytes: 50,
      apparentBytes: null,
      allocatedBytes: null,
      imageIds: [sha('4')],
    },
  ];
  inv.containers = [];
  inv.volumes = [];
  inv.buildCache = { ...inv.buildCache, reclaimableBytes: 0 };
  return inv;
}

const policy = { ...DEFAULT_SAVINGS_POLICY, keepNewestTagsPerRepository: 1, unusedImageMinAgeDays: 14 };

describe('bytesFreedByRemovingImages', () => {
  it('counts layers shared only within the removed set, never layers others still use', () => {
    const inv = fleetInventory();
    expect(bytesFreedByRemovingImages(inv, new Set([sha('1')]))).toBe(300);
    expect(bytesFreedByRemovingImages(inv, new Set([sha('1'), sha('2')]))).toBe(900);
    expect(bytesFreedByRemovingImages(inv, new Set([sha('1'), sha('2'), sha('4')]))).toBe(950);
  });
});

describe('computeOpportunities', () => {
  it('proposes dangling images and unused images except rollback targets and images in use', () => {
    const inv = fleetInventory();
    const found = computeOpportunities(inv, policy, now);
    const dangling = found.find((o) => o.kind === 'images.dangling');
    expect(dangling).toMatchObject({ reclaimableBytes: 50, risk: 'low', confidence: 'exact' });
    const unused = found.find((o) => o.kind === 'images.unused');
    // app:3 is in use, and as the newest image of repository "app" it is also the one kept
    // rollback target, so app:1 and app:2 are the candidates.
    expect(unused?.objects.map((o) => o.name).sort()).toEqual(['app:1', 'app:2']);
    expect(unused?.reclaimableBytes).toBe(900);
    expect(unused?.monthlyCost).toBeCloseTo(monthlyCost(900, policy.pricePerGbMonth));
  });

  it("prices a host's opportunities at its group's price, else the default", () => {
    const priced = { ...policy, pricePerGbMonth: 0.1, groupLabel: 'tier', groupPrices: { gpu: 2.5 } };
    const inGroup = fleetInventory();
    inGroup.host.labels = { tier: 'gpu' };
    const otherGroup = fleetInventory();
    otherGroup.host.labels = { tier: 'batch' };
    const cost = (inv: ReturnType<typeof fleetInventory>) =>
      computeOpportunities(inv, priced, now).find((o) => o.kind === 'images.unused')?.monthlyCost;
    expect(cost(inGroup)).toBeCloseTo((900 / 1e9) * 2.5, 15);
    expect(cost(otherGroup)).toBeCloseTo((900 / 1e9) * 0.1, 15);
    expect(cost(fleetInventory())).toBeCloseTo((900 / 1e9) * 0.1, 15);
  });

  it('keeps the newest N tags per repository as rollback targets', () => {
    const found = computeOpportunities(fleetInventory(), { ...policy, keepNewestTagsPerRepository: 2 }, now);
    expect(found.find((o) => o.kind === 'images.unused')?.objects.map((o) => o.name)).toEqual(['app:1']);
  });

  it('respects the last-used clock, protected patterns and protected labels', () => {
    const inv = fleetInventory();
    (inv.images[0] as Image).lastUsedAt = '2026-05-25T00:00:00Z';
    expect(
      computeOpportunities(inv, policy, now)
        .find((o) => o.kind === 'images.unused')
        ?.objects.map((o) => o.name),
    ).toEqual(['app:2']);
    expect(
      computeOpportunities(fleetInventory(), { ...policy, protectedImagePatterns: ['app:*'] }, now).find(
        (o) => o.kind === 'images.unused',
      ),
    ).toBeUndefined();
    const labelled = fleetInventory();
    (labelled.images[1] as Image).labels = { 'com.ballast.protect': 'true' };
    expect(
      computeOpportunities(labelled, policy, now)
        .find((o) => o.kind === 'images.unused')
        ?.objects.map((o) => o.name),
    ).toEqual(['app:1']);
  });

  it('never proposes a dangling image a container still uses', () => {
    const inv = fleetInventory();
    (inv.images[3] as Image).containerIds = ['stale'];
    expect(computeOpportunities(inv, policy, now).find((o) => o.kind === 'images.dangling')).toBeUndefined();
  });

  it('marks BuildKit-held images as partial with a caveat', () => {
    const inv = fleetInventory();
    (inv.images[3] as Image).buildCacheHeld = true;
    const dangling = computeOpportunities(inv, policy, now).find((o) => o.kind === 'images.dangling');
    expect(dangling?.confidence).toBe('partial');
    expect(dangling?.caveats[0]).toContain('build-cache prune');
  });

  it('counts stopped containers with their logs, old enough only, and flags volumes as high risk', () => {
    const inv = makeSampleInventory();
    const found = computeOpportunities(inv, policy, now);
    const stopped = found.find((o) => o.kind === 'containers.stopped');
    expect(stopped?.objects).toEqual([{ id: 'd'.repeat(64), name: 'job', bytes: 0 }]);
    expect(stopped?.caveats[0]).toContain('unprotects their images');
    expect(
      computeOpportunities(inv, policy, new Date('2026-01-03T00:00:00Z')).find((o) => o.kind === 'containers.stopped'),
    ).toBeUndefined();

    inv.volumes.push({
      ...(inv.volumes[0] as Inventory['volumes'][number]),
      name: 'orphan',
      containerIds: [],
      sizeBytes: 1234,
    });
    const volumes = computeOpportunities(inv, policy, now).find((o) => o.kind === 'volumes.unused');
    expect(volumes).toMatchObject({ reclaimableBytes: 1234, risk: 'high', defaultSelected: false, action: null });
  });

  it('proposes rotation for unbounded json-file logs, counting only bytes above the cap', () => {
    const inv = makeSampleInventory();
    const web = inv.containers[0] as Inventory['containers'][number];
    web.logBytes = 50 * 1024 * 1024;
    const logs = computeOpportunities(inv, { ...policy, logMaxSize: '10m', logMaxFile: 3 }, now).find(
      (o) => o.kind === 'logs.unbounded',
    );
    expect(logs?.reclaimableBytes).toBe(20 * 1024 * 1024);
    expect(logs?.action).toEqual({ kind: 'logs.configureRotation', params: { maxSize: '10m', maxFile: 3 } });
  });

  it('sorts by reclaimable bytes', () => {
    const found = computeOpportunities(fleetInventory(), policy, now);
    const bytes = found.map((o) => o.reclaimableBytes);
    expect(bytes).toEqual([...bytes].sort((a, b) => b - a));
  });
});

describe('globToRegExp', () => {
  it('matches whole references with * as a wildcard and escapes the rest', () => {
    expect(globToRegExp('nginx:*').test('nginx:1.25')).toBe(true);
    expect(globToRegExp('nginx:*').test('my/nginx:1.25')).toBe(false);
    expect(globToRegExp('registry.local/*').test('registryXlocal/app:1')).toBe(false);
  });
});
