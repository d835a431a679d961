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
