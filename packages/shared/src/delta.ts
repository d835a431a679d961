import * as z from '@ballast/shared/zod';
import { type Inventory, ZContainer, ZImage, ZInventory, ZLayer, ZVolume } from './inventory.js';

/**
 * Inventory deltas: what changed between two inventories of one host. The four entity lists
 * (images, layers, containers, volumes) change by key: `put` adds an entity or replaces the one
 * with its key whole, `remove` names keys that are gone. Every other top-level field is replaced
 * whole when it changed (`set`) or dropped when it is gone (`unset`, optional fields only).
 *
 * `applyInventoryDelta(prev, diffInventories(prev, next))` equals `next`, with entity lists
 * compared by key: entities that stay keep their place, new ones are appended.
 */

/** Entity lists and the field that keys them. */
export const DELTA_ENTITIES = {
  images: 'id',
  layers: 'chainId',
  containers: 'id',
  volumes: 'name',
} as const satisfies Record<string, string>;
export type DeltaEntity = keyof typeof DELTA_ENTITIES;
const ENTITY_NAMES = Object.keys(DELTA_ENTITIES) as DeltaEntity[];

/** Top-level fields an inventory may lack, so a delta can drop them. */
export const OPTIONAL_INVENTORY_FIELDS = ['duplicates', 'waste', 'containerd', 'selection'] as const;
type OptionalField = (typeof OPTIONAL_INVENTORY_FIELDS)[number];

/** Entities a delta may carry per list, and keys it may remove: a busy host's full list fits. */
const MAX_DELTA_ENTITIES = 20_000;

function changes<T extends z.ZodMiniType>(entity: T) {
  return z.strictObject({
    put: z._default(z.array(entity).check(z.maxLength(MAX_DELTA_ENTITIES)), []),
    remove: z._default(z.array(z.string()).check(z.maxLength(MAX_DELTA_ENTITIES)), []),
  });
}

const entityShape = {
  images: z.optional(changes(ZImage)),
  layers: z.optional(changes(ZLayer)),
  containers: z.optional(changes(ZContainer)),
  volumes: z.optional(changes(ZVolume)),
};

const replacedFields = z.required(
  z.partial(z.omit(ZInventory, { images: true, layers: true, containers: true, volumes: true })),
  { collectedAt: true },
);

export const ZInventoryDelta = z.strictObject({
  /** Replaced fields. `collectedAt` is always set: a delta is a new reading of the host. */
  set: z.strictObject(replacedFields.shape),
  unset: z._default(
    z.array(z.enum(OPTIONAL_INVENTORY_FIELDS)).check(z.maxLength(OPTIONAL_INVENTORY_FIELDS.length)),
    [],
  ),
  ...entityShape,
});
export type InventoryDelta = z.infer<typeof ZInventoryDelta>;
export type InventoryDeltaInput = z.input<typeof ZInventoryDelta>;

/** Equality of JSON values (what a frame carries); object key order does not matter. */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!same(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  let count = 0;
  for (const key in ra) {
    if (ra[key] === undefined) continue;
    count += 1;
    if (!same(ra[key], rb[key])) return false;
  }
  for (const key in rb) if (rb[key] !== undefined) count -= 1;
  return count === 0;
}

function keyOf(entity: DeltaEntity, item: unknown): string {
  return (item as Record<string, string>)[DELTA_ENTITIES[entity]] as string;
}

/** The delta that turns `prev` into `next`. */
export function diffInventories(prev: Inventory, next: Inventory): InventoryDelta {
  const set: Record<string, unknown> = { collectedAt: next.collectedAt };
  const unset: OptionalField[] = [];
  for (const field of Object.keys(next) as (keyof Inventory)[]) {
    if ((ENTITY_NAMES as string[]).includes(field) || field === 'collectedAt') continue;
    if (next[field] === undefined) continue;
    if (!same(prev[field], next[field])) set[field] = next[field];
  }
  for (const field of OPTIONAL_INVENTORY_FIELDS) {
    if (prev[field] !== undefined && next[field] === undefined) unset.push(field);
  }
  const delta: Record<string, unknown> = { set, unset };
  for (const entity of ENTITY_NAMES) {
    const before = new Map<string, unknown>();
    for (const item of prev[entity]) before.set(keyOf(entity, item), item);
    const put: unknown[] = [];
    const seen = new Set<string>();
    for (const item of next[entity]) {
      const key = keyOf(entity, item);
      seen.add(key);
      const old = before.get(key);
      if (old === undefined || !same(old, item)) put.push(item);
    }
    const remove = [...before.keys()].filter((key) => !seen.has(key));
    if (put.length > 0 || remove.length > 0) delta[entity] = { put, remove };
  }
  return delta as InventoryDelta;
}

/** True when the delta changes nothing but the reading's time. */
export function deltaIsEmpty(delta: InventoryDelta): boolean {
  return (
    Object.keys(delta.set).length === 1 &&
    delta.unset.length === 0 &&
    ENTITY_NAMES.every((e) => !delta[e] || (delta[e].put.length === 0 && delta[e].remove.length === 0))
  );
}

export type ApplyDeltaResult = { ok: true; inventory: Inventory } | { ok: false; reason: string };

/**
 * Why a delta cannot have come from any base: a key it puts or removes twice in one list.
 * Null when each key appears once. (Whether its removals exist depends on the base.)
 */
export function deltaConflict(delta: InventoryDelta): string | null {
  for (const entity of ENTITY_NAMES) {
    const change = delta[entity];
    if (!change) continue;
    const touched = new Set<string>();
    for (const key of change.remove) {
      if (touched.has(key)) return `${entity}: ${key} removed twice`;
      touched.add(key);
    }
    for (const item of change.put) {
      const key = keyOf(entity, item);
      if (touched.has(key)) return `${entity}: ${key} changed twice`;
      touched.add(key);
    }
  }
  return null;
}

/**
 * Applies a delta to the inventory it was computed from. It refuses, changing nothing, a delta
 * that cannot have come from this base: a removed key the base lacks, or a key put or removed
 * twice. The base is not modified.
 */
export function applyInventoryDelta(base: Inventory, delta: InventoryDelta): ApplyDeltaResult {
  const conflict = deltaConflict(delta);
  if (conflict) return { ok: false, reason: conflict };
  const next: Record<string, unknown> = { ...base };
  for (const field of delta.unset) delete next[field];
  for (const [field, value] of Object.entries(delta.set)) if (value !== undefined) next[field] = value;
  for (const entity of ENTITY_NAMES) {
    const change = delta[entity];
    if (!change || (change.put.length === 0 && change.remove.length === 0)) continue;
    const items = new Map<string, unknown>();
    for (const item of base[entity]) items.set(keyOf(entity, item), item);
    for (const key of change.remove) {
      if (!items.delete(key)) return { ok: false, reason: `${entity}: ${key} is not in the base` };
    }
    for (const item of change.put) items.set(keyOf(entity, item), item);
    next[entity] = [...items.values()];
  }
  return { ok: true, inventory: next as Inventory };
}

/** Entity lists as maps by key: equality of inventories up to the order of their lists. */
export function inventoryByKey(inventory: Inventory): Record<string, unknown> {
  const out: Record<string, unknown> = { ...inventory };
  for (const entity of ENTITY_NAMES) {
    out[entity] = Object.fromEntries(inventory[entity].map((item) => [keyOf(entity, item), item]));
  }
  return out;
}
