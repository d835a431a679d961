// Kept free of imports so bundlers that do not map `.js` specifiers to `.ts` (Turbopack) can
// load it in the web app's client and route bundles.
export const OPPORTUNITY_KINDS = [
  'images.dangling',
  'images.unused',
  'containers.stopped',
  'buildCache.reclaimable',
  'volumes.unused',
  'logs.unbounded',
  'content.duplicateLayers',
  'content.duplicateFiles',
  'content.imageWaste',
] as const;
export type OpportunityKind = (typeof OPPORTUNITY_KINDS)[number];

/**
 * Kinds that are advice only (rebuild on a shared base, fix a Dockerfile): no job frees their
 * bytes, so they are listed and priced but never counted in what the fleet can reclaim.
 */
export const ADVICE_KINDS: readonly OpportunityKind[] = [
  'content.duplicateLayers',
  'content.duplicateFiles',
  'content.imageWaste',
];

export function isAdviceKind(kind: string): boolean {
  return (ADVICE_KINDS as readonly string[]).includes(kind);
}
