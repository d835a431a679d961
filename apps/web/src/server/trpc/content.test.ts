// Duplicate content across the fleet, through the router against a real PostgreSQL database:
// hosts report the agent's content analysis; the expected figures are computed here from the
// inventories sent, not by the queries under test.
import { type Inventory, ZInventory } from '@ballast/shared';
import { makeSampleInventory } from '@ballast/shared/sample-inventory';
import { computeOpportunities, DEFAULT_SAVINGS_POLICY } from '@ballast/shared/savings/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordSnapshot, registerHost } from '../services/ingest';
import { createWorld, type World } from '../testing/world';
import { createCallerFactory } from './init';
import { appRouter } from './root';

const MiB = 1024 * 1024;
const createCaller = createCallerFactory(appRouter);
const sha = (c: string) => `sha256:${c.repeat(64)}`;
let world: World;
const hostIds: Record<string, string> = {};
const sent: Record<string, Inventory> = {};

/**
 * svc-4 repeats svc-3's 4 MiB layer content on every host that has both; tool:1 carries
 * 3 MiB its top layer deletes. Chain IDs differ per host only where builds differ.
 */
function inventoryFor(hostname: string, opts: { repeat: boolean; otherRepeat: boolean; waste: boolean }): Inventory {
  const inv = makeSampleInventory({ machineId: `m-${hostname}`, hostname });
  const template = inv.images[0] as Inventory['images'][number];
  const image = (id: string, tag: string, chainIds: string[]) => ({
    ...template,
    id,
    repoTags: [tag],
    chainIds,
    diffIds: chainIds,
    containerIds: [],
  });
  const layer = (chainId: string, imageId: string, bytes: number) => ({
    chainId,
    diffId: chainId,
    cacheId: null,
    sizeBytes: bytes,
    apparentBytes: bytes,
    allocatedBytes: bytes,
    imageIds: [imageId],
  });
  inv.images.push(
    image(sha('3'), 'svc-3:1', [sha('a3')]),
    image(sha('4'), 'svc-4:1', [sha('a4')]),
    image(sha('7'), 'tool:1', [sha('b1'), sha('b2')]),
  );
  inv.layers.push(
    layer(sha('a3'), sha('3'), 4 * MiB),
    layer(sha('a4'), sha('4'), 4 * MiB),
    layer(sha('b1'), sha('7'), 3 * MiB),
    layer(sha('b2'), sha('7'), 0),
  );
  inv.duplicates = {
    analyzedLayers: inv.layers.length,
    pendingLayers: 0,
    minFileBytes: 65_536,
    layers: [
      ...(opts.repeat
        ? [{ contentDigest: sha('d'), chainIds: [sha('a3'), sha('a4')], bytes: 4 * MiB, wastedBytes: 4 * MiB }]
        : []),
      ...(opts.otherRepeat
        ? [{ contentDigest: sha('e'), chainIds: [sha('a'), sha('b')], bytes: MiB, wastedBytes: MiB }]
        : []),
    ],
    files: [],
    filesWastedBytes: 0,
    fileGroups: 0,
  };
  inv.waste = opts.waste
    ? [
        {
          imageId: sha('7'),
          wastedBytes: 3 * MiB,
          itemCount: 1,
          items: [{ path: '/tmp/junk', chainId: sha('b1'), bytes: 3 * MiB, reason: 'deleted' }],
        },
      ]
    : [];
  return ZInventory.parse(inv);
}

beforeAll(async () => {
  world = await createWorld();
  const hosts = {
    h1: { repeat: true, otherRepeat: false, waste: true },
    h2: { repeat: true, otherRepeat: true, waste: true },
    h3: { repeat: false, otherRepeat: false, waste: false },
  };
  for (const [hostname, opts] of Object.entries(hosts)) {
    const { hostId } = await registerHost(world.db.prisma, world.orgA, {
      machineId: `m-${hostname}`,
      hostname,
      agentVersion: '0.1.0',
    });
    hostIds[hostname] = hostId;
    sent[hostname] = inventoryFor(hostname, opts);
    await recordSnapshot(world.db.prisma, world.orgA, hostId, 1, sent[hostname] as Inventory);
  }
  // Another organization's repeats must never show up.
  const { hostId } = await registerHost(world.db.prisma, world.orgB, {
    machineId: 'm-b',
    hostname: 'b',
    agentVersion: '0.1.0',
  });
  await recordSnapshot(
    world.db.prisma,
    world.orgB,
    hostId,
    1,
    inventoryFor('b', { repeat: true, otherRepeat: true, waste: true }),
  );
});

afterAll(async () => {
  await world?.close();
});

const viewer = () => createCaller(world.session(world.a.viewer, world.orgA));

/** Σ and count over the sent inventories of one duplicate-layer digest. */
function expectedLayer(digest: string) {
  const groups = Object.values(sent).flatMap((inv) =>
    (inv.duplicates?.layers ?? []).filter((l) => l.contentDigest === digest),
  );
  return { hostCount: groups.length, wastedBytes: groups.reduce((s, g) => s + g.wastedBytes, 0) };
}

describe('image.duplicateLayers', () => {
  it('groups the same repeated layer content across hosts, with the images involved', async () => {
    const rows = await viewer().image.duplicateLayers({ limit: 50 });
    expect(rows.map((r) => r.contentDigest)).toEqual([sha('d'), sha('e')]);
    expect(rows[0]).toEqual({
      contentDigest: sha('d'),
      bytes: 4 * MiB,
      ...expectedLayer(sha('d')),
      images: ['svc-3:1', 'svc-4:1'],
    });
    expect(rows[0]?.hostCount).toBe(2);
    // Its chain IDs are the sample inventory's own layers, used by app:1 (both) and base:1 (the base).
    expect(rows[1]).toMatchObject({ ...expectedLayer(sha('e')), images: ['app:1', 'base:1'] });
  });

  it('filters by content digest', async () => {
    const rows = await viewer().image.duplicateLayers({ contentDigests: [sha('e')], limit: 50 });
    expect(rows.map((r) => r.contentDigest)).toEqual([sha('e')]);
  });
});

describe('image.waste', () => {
  it('gives each image its waste per copy, the hosts storing it and the fleet total', async () => {
    const rows = await viewer().image.waste({});
    const hosts = Object.values(sent).filter((inv) => inv.waste?.some((w) => w.imageId === sha('7')));
    expect(rows).toEqual([
      {
        imageId: sha('7'),
        name: 'tool:1',
        wastedBytes: 3 * MiB,
        hostCount: hosts.length,
        fleetWastedBytes: 3 * MiB * hosts.length,
      },
    ]);
  });
});

describe('host.detail content', () => {
  it('names the images of each duplicate layer and says on how many hosts the repeat exists', async () => {
    const detail = await viewer().host.detail({ id: hostIds.h1 as string });
    expect(detail.content?.duplicates).toEqual(sent.h1?.duplicates);
    expect(detail.content?.layerImages).toEqual({ [sha('a3')]: ['svc-3:1'], [sha('a4')]: ['svc-4:1'] });
    expect(detail.content?.fleetHosts).toEqual({ [sha('d')]: expectedLayer(sha('d')) });
    expect(detail.content?.waste.map((w) => [w.image, w.wastedBytes])).toEqual([['tool:1', 3 * MiB]]);
  });

  it('has no content section for a host without an analysis', async () => {
    const inv = makeSampleInventory({ machineId: 'm-plain', hostname: 'plain' });
    const { hostId } = await registerHost(world.db.prisma, world.orgA, {
      machineId: 'm-plain',
      hostname: 'plain',
      agentVersion: '0.1.0',
    });
    await recordSnapshot(world.db.prisma, world.orgA, hostId, 1, inv);
    expect((await viewer().host.detail({ id: hostId })).content).toBeNull();
  });
});

describe('content opportunities', () => {
  it('stores the advice of the savings engine for each host, without an action', async () => {
    const rows = await viewer().opportunity.list({ kind: 'content.duplicateLayers' });
    const expected = ['h1', 'h2'].map((h) => {
      const inv = sent[h] as Inventory;
      return computeOpportunities(inv, DEFAULT_SAVINGS_POLICY, new Date(inv.collectedAt)).find(
        (o) => o.kind === 'content.duplicateLayers',
      );
    });
    expect(rows.map((r) => r.reclaimableBytes).sort()).toEqual(expected.map((o) => o?.reclaimableBytes).sort());
    expect(rows.every((r) => r.action === null)).toBe(true);
    expect(rows.find((r) => r.hostId === hostIds.h1)?.objects[0]?.name).toBe(
      'svc-4:1 repeats the 4.0 MiB layer content of svc-3:1',
    );
    const waste = await viewer().opportunity.list({ kind: 'content.imageWaste' });
    expect(waste.map((r) => r.hostId).sort()).toEqual([hostIds.h1, hostIds.h2].sort());
  });
});
