export interface UsagePoint {
  at: Date;
  /** Bytes used on the filesystem. */
  usedBytes: number;
  sizeBytes: number;
}

export interface DiskForecast {
  /** Bytes per day by a least-squares fit; negative when usage shrinks. */
  growthBytesPerDay: number;
  /** Days until the filesystem is full at that rate; null when not growing or too little history. */
  daysUntilFull: number | null;
  fullAt: Date | null;
  points: number;
}

const DAY_MS = 86_400_000;

/** Least-squares slope of bytes over time; needs at least two points spanning an hour. */
export function growthPerDay(points: readonly { at: Date; bytes: number }[]): number | null {
  if (points.length < 2) return null;
  const t0 = points[0]?.at.getTime() ?? 0;
  const xs = points.map((p) => (p.at.getTime() - t0) / DAY_MS);
  const ys = points.map((p) => p.bytes);
  const span = Math.max(...xs) - Math.min(...xs);
  if (span < 1 / 24) return null;
  const n = points.length;
  const meanX = xs.reduce((a, b) => a + b, 0) / n;
  const meanY = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    const dx = (xs[i] ?? 0) - meanX;
    num += dx * ((ys[i] ?? 0) - meanY);
    den += dx * dx;
  }
  return den === 0 ? null : num / den;
}

/** When the disk fills at the trend of the given history (oldest first). */
export function forecastDiskFull(history: readonly UsagePoint[]): DiskForecast {
  const slope = growthPerDay(history.map((p) => ({ at: p.at, bytes: p.usedBytes })));
  const last = history[history.length - 1];
  if (slope === null || !last || slope <= 0) {
    return { growthBytesPerDay: slope ?? 0, daysUntilFull: null, fullAt: null, points: history.length };
  }
  const daysUntilFull = Math.max(0, (last.sizeBytes - last.usedBytes) / slope);
  return {
    growthBytesPerDay: slope,
    daysUntilFull,
    fullAt: new Date(last.at.getTime() + daysUntilFull * DAY_MS),
    points: history.length,
  };
}

export const USAGE_CATEGORIES = [
  'imagesBytes',
  'containersBytes',
  'containerLogsBytes',
  'volumesBytes',
  'buildCacheBytes',
] as const;
export type UsageCategory = (typeof USAGE_CATEGORIES)[number] | 'otherBytes';

export type CategoryPoint = { at: Date; usedBytes: number | null } & Record<(typeof USAGE_CATEGORIES)[number], number>;

/**
 * Growth per day of each Docker category, by the same least-squares fit, plus `otherBytes`:
 * disk used outside what Docker's categories explain (used minus their sum), so the parts
 * add up to the disk's growth.
 */
export function growthByCategory(history: readonly CategoryPoint[]): Record<UsageCategory, number | null> {
  const result = {} as Record<UsageCategory, number | null>;
  for (const category of USAGE_CATEGORIES) {
    result[category] = growthPerDay(history.map((p) => ({ at: p.at, bytes: p[category] })));
  }
  const withUsed = history.filter((p): p is CategoryPoint & { usedBytes: number } => p.usedBytes !== null);
  result.otherBytes = growthPerDay(
    withUsed.map((p) => ({ at: p.at, bytes: p.usedBytes - USAGE_CATEGORIES.reduce((sum, c) => sum + p[c], 0) })),
  );
  return result;
}

const RISK_ORDER: Record<string, number> = { low: 0, medium: 1, high: 2 };

export interface DaysBought {
  kind: string;
  title: string;
  risk: string;
  reclaimableBytes: number;
  /** Days of growth the freed bytes absorb at the current rate; null when the disk is not growing. */
  daysBought: number | null;
}

/**
 * What each action buys in days at the host's growth rate, and the one to do first: the
 * lowest-risk action, and among equally risky ones the one that buys the most days. Actions
 * without a remediation (volumes) are never proposed.
 */
export function rankActionsByDaysBought(
  opportunities: readonly { kind: string; title: string; risk: string; reclaimableBytes: number; action: unknown }[],
  growthBytesPerDay: number,
): { actions: DaysBought[]; best: DaysBought | null } {
  const actions = opportunities
    .filter((o) => o.action !== null && o.action !== undefined && o.reclaimableBytes > 0)
    .map((o) => ({
      kind: o.kind,
      title: o.title,
      risk: o.risk,
      reclaimableBytes: o.reclaimableBytes,
      daysBought: growthBytesPerDay > 0 ? o.reclaimableBytes / growthBytesPerDay : null,
    }))
    .sort(
      (a, b) =>
        (RISK_ORDER[a.risk] ?? 3) - (RISK_ORDER[b.risk] ?? 3) ||
        b.reclaimableBytes - a.reclaimableBytes ||
        a.kind.localeCompare(b.kind),
    );
  return { actions, best: actions[0] ?? null };
}
