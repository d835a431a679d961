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
