import type { Inventory, PlanItem, PlanSkip } from '@ballast/shared';
import type { RemediationConfig } from '../config/file.js';
import { protectedByLabel } from './policy.js';
import type { PlanDraft, SpecOf } from './types.js';

/** Only the volumes named in the parameters, one by one; anything else is never looked at. */
export function planRemoveVolumes(
  inv: Inventory,
  spec: SpecOf<'volumes.remove'>,
  policy: RemediationConfig,
): PlanDraft {
  const items: PlanItem[] = [];
  const skipped: PlanSkip[] = [];
  for (const name of new Set(spec.params.volumes)) {
    const v = inv.volumes.find((x) => x.name === name);
    const reason = !v
      ? 'no such volume'
      : v.containerIds.length > 0
        ? `referenced by ${v.containerIds.length} container(s) in some state (${v.containerIds.map((c) => c.slice(0, 12)).join(', ')})`
        : protectedByLabel(policy.protectedLabels, v.labels);
    if (reason || !v) {
      skipped.push({ type: 'volume', id: name, name, reason: reason ?? 'no such volume' });
      continue;
    }
    items.push({
      type: 'volume',
      id: name,
      name,
      bytes: v.sizeBytes ?? 0,
      note:
        v.sizeBytes === null
          ? `driver ${v.driver}: size not measurable by the agent, counted as 0`
          : `${v.sizeBytes} bytes of data (apparent, Docker's rule); removal is irreversible`,
    });
  }
  return {
    items,
    skipped,
    notes: ['Volumes hold data: removal is irreversible. Only the volumes named in the request are considered.'],
    configChange: null,
  };
}
