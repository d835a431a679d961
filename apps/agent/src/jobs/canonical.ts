import { createHash } from 'node:crypto';
import type { JobPlan } from '@ballast/shared';

/** JSON with object keys sorted at every level, so equal values always give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** sha256 over the canonical JSON of the plan without its digest. */
export function planDigest(plan: Omit<JobPlan, 'digest'> & { digest?: string }): string {
  const { digest: _ignored, ...rest } = plan;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}
