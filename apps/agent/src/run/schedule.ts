/**
 * How long the slow loop waits after a pass: its cadence, moved to halfway between two
 * readings. A reading and a slow pass each raise RSS for a second or two, and the default
 * slow cadence (600 s) is a multiple of the default interval (60 s): left alone, every slow
 * pass would start together with a reading and their peaks would add up. The pass moves by
 * at most half an interval either way. Without a reading scheduled yet, or with an interval
 * longer than the cadence, the cadence is kept as it is.
 */
export function slowPassDelay(now: number, slowMs: number, intervalMs: number, nextReadingAt: number | null): number {
  if (nextReadingAt === null || intervalMs <= 0 || intervalMs > slowMs) return slowMs;
  const target = now + slowMs;
  // The first reading due at or after the target, then half an interval before it.
  const readingAfter = nextReadingAt + Math.ceil((target - nextReadingAt) / intervalMs) * intervalMs;
  return Math.max(0, Math.round(readingAfter - intervalMs / 2 - now));
}
