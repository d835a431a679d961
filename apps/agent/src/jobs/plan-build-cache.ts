import type { PlanItem, PlanSkip } from '@ballast/shared';
import type { BuildCacheRecord } from '../docker/api-types.js';
import type { PlanDraft, SpecOf } from './types.js';

const HOUR_MS = 3_600_000;

export function recordParents(r: BuildCacheRecord): string[] {
  return [...new Set([...r.Parents, ...(r.Parent ? [r.Parent] : [])])];
}

function describe(r: BuildCacheRecord): string {
  return `${r.Type} record ${r.ID}`;
}

/**
 * Which BuildKit records to prune: not in use, unused for long enough, least recently used
 * first until the unshared bytes left fit `keepStorageBytes`. A record another kept record
 * builds on stays (BuildKit would refuse it). Items are ordered children first, so each
 * single-record prune finds its record free of dependants.
 *
 * Bytes: a `Shared` record is a snapshot that is also an image layer, so pruning it frees
 * nothing while that image exists: it counts 0 (the docker CLI leaves it out of its build
 * cache total for the same reason).
 */
export function planBuildCachePrune(
  records: readonly BuildCacheRecord[],
  spec: SpecOf<'buildCache.prune'>,
  now: Date,
): PlanDraft {
  const { keepStorageBytes, unusedForHours } = spec.params;
  const skipped: PlanSkip[] = [];
  const skip = (r: BuildCacheRecord, reason: string) =>
    skipped.push({ type: 'buildCache', id: r.ID, name: describe(r), reason });
  let candidates: BuildCacheRecord[] = [];
  for (const r of records) {
    if (r.InUse) skip(r, 'in use by a build');
    else if (
      unusedForHours !== undefined &&
      r.LastUsedAt &&
      Date.parse(r.LastUsedAt) > now.getTime() - unusedForHours * HOUR_MS
    ) {
      skip(r, `last used ${r.LastUsedAt}, less than ${unusedForHours} hours ago`);
    } else candidates.push(r);
  }
  if (keepStorageBytes !== undefined) {
    const unshared = (list: readonly BuildCacheRecord[]) => list.reduce((s, r) => s + (r.Shared ? 0 : r.Size), 0);
    let left = unshared(records);
    const lru = [...candidates].sort((a, b) => (a.LastUsedAt ?? '').localeCompare(b.LastUsedAt ?? ''));
    const chosen = new Set<string>();
    for (const r of lru) {
      if (left <= keepStorageBytes) break;
      chosen.add(r.ID);
      if (!r.Shared) left -= r.Size;
    }
    for (const r of candidates) if (!chosen.has(r.ID)) skip(r, `kept within keep-storage ${keepStorageBytes} bytes`);
    candidates = candidates.filter((r) => chosen.has(r.ID));
  }
  // Drop records that a record staying behind builds on, until nothing changes.
  const planned = new Map(candidates.map((r) => [r.ID, r]));
  for (let changed = true; changed; ) {
    changed = false;
    for (const r of records) {
      if (planned.has(r.ID)) continue;
      for (const parent of recordParents(r)) {
        const p = planned.get(parent);
        if (p) {
          planned.delete(parent);
          skip(p, `record ${r.ID}, which stays, builds on it`);
          changed = true;
        }
      }
    }
  }
  const byId = new Map(records.map((r) => [r.ID, r]));
  const depth = (r: BuildCacheRecord, seen = new Set<string>()): number => {
    if (seen.has(r.ID)) return 0;
    seen.add(r.ID);
    const parents = recordParents(r).map((id) => byId.get(id));
    return 1 + Math.max(0, ...parents.map((p) => (p ? depth(p, seen) : 0)));
  };
  const ordered = [...planned.values()].sort((a, b) => depth(b) - depth(a) || a.ID.localeCompare(b.ID));
  const items: PlanItem[] = ordered.map((r) => ({
    type: 'buildCache',
    id: r.ID,
    name: describe(r),
    bytes: r.Shared ? 0 : r.Size,
    note: r.Shared
      ? `shared with an image layer: its ${r.Size} bytes stay while that image exists`
      : `${r.Size} bytes (BuildKit's record size)`,
  }));
  const shared = items.filter((i) => i.bytes === 0 && i.note?.startsWith('shared')).length;
  const notes = [
    ...(shared > 0
      ? [
          `${shared} records are shared with image layers and count 0 bytes; Docker's SpaceReclaimed counts them in full, although nothing leaves the disk while those images exist.`,
        ]
      : []),
    'Images built with BuildKit whose layers these records held become freeable by image removal afterwards.',
  ];
  return { items, skipped, notes, configChange: null };
}
