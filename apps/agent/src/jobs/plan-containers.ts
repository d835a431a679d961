import type { Container, Inventory, PlanItem, PlanSkip } from '@ballast/shared';
import type { RemediationConfig } from '../config/file.js';
import { globMatches, labelRuleMatches, protectedByLabel } from './policy.js';
import type { PlanDraft, SpecOf } from './types.js';

const DAY_MS = 86_400_000;
/** States a container can be removed in without force. */
export const STOPPED_STATES = new Set(['exited', 'created', 'dead']);

/** When the container stopped; one that never ran counts from its creation (Docker writes year 1 then). */
function stoppedAt(c: Pick<Container, 'finishedAt' | 'createdAt'>): string | null {
  const finished = c.finishedAt && !c.finishedAt.startsWith('0001-') ? c.finishedAt : null;
  return finished ?? c.createdAt;
}

export function planPruneStopped(
  inv: Inventory,
  spec: SpecOf<'containers.pruneStopped'>,
  policy: RemediationConfig,
  now: Date,
): PlanDraft {
  const p = spec.params;
  const cutoff = now.getTime() - p.minAgeDays * DAY_MS;
  const items: PlanItem[] = [];
  const skipped: PlanSkip[] = [];
  let unmeasured = 0;
  for (const c of inv.containers) {
    if (!STOPPED_STATES.has(c.state)) continue;
    if (p.namePattern && !globMatches(p.namePattern, c.name)) continue;
    if (!p.labels.every((rule) => labelRuleMatches(rule, c.labels))) continue;
    const since = stoppedAt(c);
    const reason =
      protectedByLabel(policy.protectedLabels, c.labels) ??
      (since && Date.parse(since) > cutoff ? `stopped at ${since}, less than ${p.minAgeDays} days ago` : null);
    if (reason) {
      skipped.push({ type: 'container', id: c.id, name: c.name, reason });
      continue;
    }
    if (c.writableBytes === null) unmeasured += 1;
    items.push({
      type: 'container',
      id: c.id,
      name: c.name,
      bytes: (c.writableBytes ?? 0) + c.logBytes,
      note: `writable layer ${c.writableBytes ?? 'not yet measured'} + logs ${c.logBytes} bytes (apparent); its volumes and image stay`,
    });
  }
  const notes = [
    'Removing a container never removes its volumes or its image; their bytes are not counted here.',
    ...(unmeasured > 0
      ? [`${unmeasured} containers' writable layers were not measured yet and count only their logs.`]
      : []),
  ];
  return { items, skipped, notes, configChange: null };
}
