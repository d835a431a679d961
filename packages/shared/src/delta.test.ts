import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyInventoryDelta,
  deltaIsEmpty,
  diffInventories,
  type InventoryDelta,
  inventoryByKey,
  ZInventoryDelta,
} from './delta.js';
import { type Inventory, ZInventory } from './inventory.js';
import { makeSampleInventory } from './sample-inventory.js';

const RUNS = { numRuns: 300 };
const hex = (n: number) => n.toString(16).padStart(64, '0');

/** An inventory with `images` images (each its own layer on a shared base), containers and volumes. */
function inventory(spec: {
  images: number[];
  containers: number[];
  volumes: number[];
  logBytes: number;
  used: number;
  withDuplicates: boolean;
  at: number;
}): Inventory {
  const inv = makeSampleInventory({ collectedAt: new Date(1_700_000_000_000 + spec.at * 1000) });
  const imageTemplate = inv.images[0] as Inventory['images'][number];
  const layerTemplate = inv.layers[0] as Inventory['layers'][number];
  const containerTemplate = inv.containers[0] as Inventory['containers'][number];
  const volumeTemplate = inv.volumes[0] as Inventory['volumes'][number];
  inv.images = spec.images.map((n) => ({
    ...imageTemplate,
    id: `sha256:${hex(n)}`,
    chainIds: [`sha256:${hex(10_000 + n)}`],
    exclusiveBytes: n * 1000,
  }));
  inv.layers = spec.images.map((n) => ({
    ...layerTemplate,
    chainId: `sha256:${hex(10_000 + n)}`,
    imageIds: [`sha256:${hex(n)}`],
    sizeBytes: n * 1000,
  }));
  inv.containers = spec.containers.map((n) => ({
    ...containerTemplate,
    id: hex(20_000 + n),
    name: `c${n}`,
    logBytes: spec.logBytes + n,
  }));
  inv.volumes = spec.volumes.map((n) => ({ ...volumeTemplate, name: `v${n}`, sizeBytes: n }));
  if (inv.filesystem) inv.filesystem.usedBytes = spec.used;
  if (spec.withDuplicates) {
    inv.duplicates = {
      analyzedLayers: spec.images.length,
      pendingLayers: 0,
      minFileBytes: 1024,
      layers: [],
      files: [],
      filesWastedBytes: 0,
      fileGroups: 0,
    };
  }
  return inv;
}

const ids = fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { maxLength: 25 });
const spec = fc.record({
  images: ids,
  containers: ids,
  volumes: ids,
  logBytes: fc.nat({ max: 1e9 }),
  used: fc.nat({ max: 1e12 }),
  withDuplicates: fc.boolean(),
  at: fc.nat({ max: 1e6 }),
});

describe('inventory deltas', () => {
  it('apply(prev, diff(prev, next)) is next, up to the order of entity lists', () => {
    fc.assert(
      fc.property(spec, spec, (a, b) => {
        const prev = inventory(a);
        const next = inventory(b);
        const delta = diffInventories(prev, next);
        // What the agent sends is what the server validates: the delta survives the schema.
        const wire = ZInventoryDelta.parse(JSON.parse(JSON.stringify(delta)));
        const applied = applyInventoryDelta(prev, wire);
        expect(applied.ok).toBe(true);
        if (!applied.ok) return;
        expect(ZInventory.safeParse(applied.inventory).success).toBe(true);
        expect(inventoryByKey(applied.inventory)).toEqual(inventoryByKey(next));
      }),
      RUNS,
    );
  });

  it('carries only what changed', () => {
    fc.assert(
      fc.property(spec, (a) => {
        const prev = inventory(a);
        const same = diffInventories(prev, structuredClone(prev));
        expect(deltaIsEmpty(same)).toBe(true);
        const later = inventory({ ...a, at: a.at + 60, logBytes: a.logBytes + 1 });
        const delta = diffInventories(prev, later);
        expect(delta.images).toBeUndefined();
        expect(delta.volumes).toBeUndefined();
        expect(delta.containers?.put.length ?? 0).toBe(a.containers.length);
        expect(delta.containers?.remove ?? []).toEqual([]);
      }),
      RUNS,
    );
  });

  it('keeps the base unmodified and the place of entities that stay', () => {
    const prev = inventory({
      images: [1, 2, 3],
      containers: [1],
      volumes: [],
      logBytes: 5,
      used: 9,
      withDuplicates: true,
      at: 0,
    });
    const frozen = structuredClone(prev);
    const next = inventory({
      images: [3, 4, 2],
      containers: [1],
      volumes: [7],
      logBytes: 6,
      used: 10,
      withDuplicates: false,
      at: 60,
    });
    const applied = applyInventoryDelta(prev, diffInventories(prev, next));
    expect(prev).toEqual(frozen);
    expect(applied.ok && applied.inventory.images.map((i) => i.exclusiveBytes)).toEqual([2000, 3000, 4000]);
    expect(applied.ok && applied.inventory.duplicates).toBeUndefined();
  });

  it('refuses a delta that cannot come from this base, and never throws', () => {
    fc.assert(
      fc.property(spec, spec, fc.integer({ min: 61, max: 99 }), (a, b, missing) => {
        const prev = inventory(a);
        const delta = diffInventories(prev, inventory(b));
        const bad: InventoryDelta = {
          ...delta,
          images: { put: delta.images?.put ?? [], remove: [...(delta.images?.remove ?? []), `sha256:${hex(missing)}`] },
        };
        const applied = applyInventoryDelta(prev, bad);
        expect(applied).toEqual({ ok: false, reason: `images: sha256:${hex(missing)} is not in the base` });
      }),
      RUNS,
    );
    const prev = inventory({
      images: [1],
      containers: [],
      volumes: [],
      logBytes: 0,
      used: 0,
      withDuplicates: false,
      at: 0,
    });
    const twice = applyInventoryDelta(prev, {
      set: { collectedAt: prev.collectedAt },
      unset: [],
      images: { put: [prev.images[0] as Inventory['images'][number]], remove: [prev.images[0]?.id as string] },
    });
    expect(twice.ok).toBe(false);
  });

  it('the schema refuses unknown fields, entity fields in set, and a delta without a time', () => {
    const base = { set: { collectedAt: new Date().toISOString() } };
    expect(ZInventoryDelta.safeParse(base).success).toBe(true);
    expect(ZInventoryDelta.safeParse({ ...base, extra: 1 }).success).toBe(false);
    expect(ZInventoryDelta.safeParse({ set: { ...base.set, images: [] } }).success).toBe(false);
    expect(ZInventoryDelta.safeParse({ set: {} }).success).toBe(false);
    expect(ZInventoryDelta.safeParse({ ...base, unset: ['engine'] }).success).toBe(false);
    expect(ZInventoryDelta.safeParse({ ...base, images: { put: [], remove: [], x: 1 } }).success).toBe(false);
  });
});
