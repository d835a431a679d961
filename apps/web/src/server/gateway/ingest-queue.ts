/**
 * The process-wide bound on snapshots waiting for the database. A snapshot is admitted (its
 * parsed inventory held in memory) only while fewer than `capacity` are admitted, and at most
 * `concurrency` of them talk to the database at once. Everything else is refused at the door
 * with a back-off, so a slow database costs a bounded amount of memory, never more.
 */
/** What a reading is, for the queue's estimate of how long it holds a database slot. */
export type ReadingKind = 'snapshot' | 'delta';

export interface IngestQueue {
  /**
   * Reserves a place; false when the queue is full (the caller tells the agent to back off).
   * `promised`: the agent comes back at the slot it was promised, and may take a place beyond
   * the capacity, up to twice it, so that the promise holds when readings nobody was promised
   * a slot for (deltas of agents already in) took the room meanwhile.
   */
  admit(promised?: boolean): boolean;
  /** Whether `admit` would refuse now (nothing reserved). */
  full(promised?: boolean): boolean;
  /** Runs an admitted reading once a database slot is free; frees its place when done. */
  run<T>(fn: () => Promise<T>, kind?: ReadingKind): Promise<T>;
  /**
   * Seconds an agent refused now should wait. Each refusal is promised its own slot after the
   * queue has drained and after the slots promised before it, so a reconnect storm returns as a
   * steady stream the queue can take, not in waves that find it full again and leave it idle.
   * A refused full snapshot is spaced by what snapshots cost, not by the mix of cheap deltas
   * that finished last.
   */
  retryAfterSeconds(now?: number, kind?: ReadingKind): number;
  stats(): {
    admitted: number;
    running: number;
    capacity: number;
    concurrency: number;
    avgMs: number;
    snapshotAvgMs: number | null;
  };
}

export interface IngestQueueOptions {
  concurrency: number;
  capacity: number;
  /** Bounds of the back-off told to agents. */
  minRetrySeconds?: number;
  maxRetrySeconds?: number;
}

export function createIngestQueue(options: IngestQueueOptions): IngestQueue {
  const { concurrency, capacity } = options;
  const minRetry = options.minRetrySeconds ?? 1;
  // Two minutes at most: a reconnect storm of thousands of agents is spread over that long
  // without sending any of them back to a full queue a second time.
  const maxRetry = options.maxRetrySeconds ?? 120;
  let admitted = 0;
  let running = 0;
  // Moving average of one ingest's duration, to turn queue depth into a wait.
  let avgMs = 100;
  // Moving average of a full snapshot's duration (null until one ran).
  let snapshotAvgMs: number | null = null;
  // The last slot promised to a refused agent (ms since the epoch).
  let promisedUntil = 0;
  // When the last readings finished: their spacing is the rate the queue drains at. Under CPU
  // contention one write's duration inflates more than the rate falls, so the wait is the
  // smaller of the two estimates.
  const finished: number[] = [];
  const waiting: (() => void)[] = [];

  return {
    full: (promised = false) => admitted >= (promised ? capacity * 2 : capacity),
    admit(promised = false) {
      if (admitted >= (promised ? capacity * 2 : capacity)) return false;
      admitted += 1;
      return true;
    },
    async run(fn, kind) {
      // A finishing task hands its slot straight to the next waiter (running stays counted),
      // so a newcomer can never slip in between and exceed `concurrency`.
      if (running >= concurrency) await new Promise<void>((resolve) => waiting.push(resolve));
      else running += 1;
      const started = performance.now();
      try {
        return await fn();
      } finally {
        const now = performance.now();
        avgMs = avgMs * 0.9 + (now - started) * 0.1;
        if (kind === 'snapshot') {
          snapshotAvgMs = snapshotAvgMs === null ? now - started : snapshotAvgMs * 0.9 + (now - started) * 0.1;
        }
        finished.push(now);
        if (finished.length > capacity) finished.shift();
        admitted -= 1;
        const next = waiting.shift();
        if (next) next();
        else running -= 1;
      }
    },
    retryAfterSeconds(now = Date.now(), kind) {
      const spacing =
        finished.length >= concurrency
          ? ((finished.at(-1) as number) - (finished[0] as number)) / (finished.length - 1)
          : Number.POSITIVE_INFINITY;
      const recentMs = Math.min(avgMs / concurrency, spacing);
      // Right after a steady stretch the recent readings are deltas, a fraction of a snapshot's
      // cost: spacing a storm's snapshots by them sends the agents back long before the queue
      // can take them, and those refused again go to the back of the line.
      const perReadingMs =
        kind === 'snapshot' && snapshotAvgMs !== null ? Math.max(recentMs, snapshotAvgMs / concurrency) : recentMs;
      const drained = now + admitted * perReadingMs;
      const slot = Math.min(now + maxRetry * 1000, Math.max(drained, promisedUntil) + perReadingMs);
      promisedUntil = slot;
      return Math.min(maxRetry, Math.max(minRetry, Math.ceil((slot - now) / 1000)));
    },
    stats: () => ({
      admitted,
      running,
      capacity,
      concurrency,
      avgMs: Math.round(avgMs),
      snapshotAvgMs: snapshotAvgMs === null ? null : Math.round(snapshotAvgMs),
    }),
  };
}
