/**
 * The agent's own protection rules. Patterns are globs with `*` as the only wildcard,
 * matched against the whole reference (`nginx:*`, `registry.example.com/*`, `sha256:ab*`).
 */
export function globMatches(pattern: string, value: string): boolean {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`).test(value);
}

/** The first pattern matching any of the image's references (tags, digests, ID), or null. */
export function protectedByPattern(patterns: readonly string[], refs: readonly string[]): string | null {
  for (const pattern of patterns) {
    for (const ref of refs) {
      if (globMatches(pattern, ref)) return `protected by image pattern ${JSON.stringify(pattern)} (${ref})`;
    }
  }
  return null;
}

/** Whether one label rule (`key` or `key=value`) matches. */
export function labelRuleMatches(rule: string, labels: Readonly<Record<string, string>>): boolean {
  const eq = rule.indexOf('=');
  if (eq < 0) return Object.hasOwn(labels, rule);
  const key = rule.slice(0, eq);
  return Object.hasOwn(labels, key) && labels[key] === rule.slice(eq + 1);
}

/** The first protecting label rule that matches, as a skip reason, or null. */
export function protectedByLabel(rules: readonly string[], labels: Readonly<Record<string, string>>): string | null {
  const rule = rules.find((r) => labelRuleMatches(r, labels));
  return rule === undefined ? null : `protected by label rule ${JSON.stringify(rule)}`;
}

/** Image references used for pattern matching: tags, digests and the ID (with and without `sha256:`). */
export function imageRefs(image: {
  id: string;
  repoTags: readonly string[];
  repoDigests: readonly string[];
}): string[] {
  return [...image.repoTags, ...image.repoDigests, image.id, image.id.replace(/^sha256:/, '')];
}
