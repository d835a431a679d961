import * as z from '@ballast/shared/zod';

const patternOrLabel = z.string().check(z.minLength(1), z.maxLength(256));
const price = z.number().check(z.gte(0), z.lte(1000));

/** What the savings engine may propose, per organization (and later per host group). */
export const ZSavingsPolicy = z.object({
  /** Images unused for longer than this are candidates (by the agent's last-used clock). */
  unusedImageMinAgeDays: z._default(z.int().check(z.gte(0), z.lte(3650)), 14),
  /** Keep the newest N tags of each repository as rollback targets. */
  keepNewestTagsPerRepository: z._default(z.int().check(z.gte(0), z.lte(100)), 2),
  /** Stopped containers finished longer ago than this are candidates. */
  stoppedContainerMinAgeDays: z._default(z.int().check(z.gte(0), z.lte(3650)), 7),
  /** Glob patterns (`*` wildcard) of image references never proposed for removal. */
  protectedImagePatterns: z._default(z.array(patternOrLabel).check(z.maxLength(200)), []),
  /** Labels (`key` or `key=value`) that protect images, containers and volumes. */
  protectedLabels: z._default(z.array(patternOrLabel).check(z.maxLength(200)), ['com.ballast.protect']),
  /** Suggested json-file rotation for containers with unbounded logs. */
  logMaxSize: z._default(z.string().check(z.regex(/^\d+[kmg]$/)), '10m'),
  logMaxFile: z._default(z.int().check(z.gte(1), z.lte(100)), 3),
  /** Price of one GB (10^9 bytes) of disk for a month, in the organization's currency. */
  pricePerGbMonth: z._default(price, 0.1),
  /** The host label whose value names a host's group (agents set it with `--label group=ci`). */
  groupLabel: z._default(
    z.string().check(z.regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/, 'a label key: letters, digits, . _ / -')),
    'group',
  ),
  /** Price per GB-month of a group's disks, overriding pricePerGbMonth for its hosts. */
  groupPrices: z._default(
    z
      .record(z.string().check(z.minLength(1), z.maxLength(128)), price)
      .check(z.refine((prices) => Object.keys(prices).length <= 500, 'at most 500 groups')),
    {},
  ),
});
export type SavingsPolicy = z.infer<typeof ZSavingsPolicy>;

export const DEFAULT_SAVINGS_POLICY: SavingsPolicy = ZSavingsPolicy.parse({});

/** Turns `nginx:*` or `registry.example.com/team/*` into an anchored regular expression. */
export function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

export function matchesLabel(labels: Record<string, string>, rules: readonly string[]): string | null {
  for (const rule of rules) {
    const eq = rule.indexOf('=');
    if (eq === -1) {
      if (rule in labels) return rule;
    } else if (labels[rule.slice(0, eq)] === rule.slice(eq + 1)) {
      return rule;
    }
  }
  return null;
}

/** The group a host belongs to by the policy's group label, or null. */
export function hostGroup(policy: SavingsPolicy, labels: Record<string, string>): string | null {
  return labels[policy.groupLabel] ?? null;
}

/** The price per GB-month for a host: its group's price, else the organization's default. */
export function priceForHost(policy: SavingsPolicy, labels: Record<string, string>): number {
  const group = hostGroup(policy, labels);
  return (group !== null ? policy.groupPrices[group] : undefined) ?? policy.pricePerGbMonth;
}

/** Monthly cost of keeping `bytes` on disk at the policy's price. */
export function monthlyCost(bytes: number, pricePerGbMonth: number): number {
  return (bytes / 1e9) * pricePerGbMonth;
}
