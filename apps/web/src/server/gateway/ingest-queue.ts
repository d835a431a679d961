/**
 * The process-wide bound on snapshots waiting for the database. A snapshot is admitted (its
 * parsed inventory held in memory) only while fewer than `capacity` are admitted and, beyond
 * one per writer, only while it would be stored within `maxWaitMs` at the recent pace; at most
 * `concurrency` of them talk to the database at once. Everything else is refused at the door
 * with a back-off, so a slow database costs a bounded amount of memory, never more, and an
 * admitted snapshot is acknowledged promptly rather than after a long queue.
 */
export interface IngestQueue {
  /** Reserves a place; false when the queue is full (the caller tells the agent to back off). */
  admit(): boolean;
  /** Whether `admit` would refuse now (nothing reserved). */
  full(): boolean;
  /** Runs an admitted snapshot once a database slot is free; frees its place when done. */
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** Frees a place reserved by `admit` that will not be run (a place kept for an agent that did not come). */
  release(): void;
  /** Called whenever a place frees (after a run ends or a reservation is released). */
  onFree(listener: () => void): void;
  /**
   * Seconds an agent refused now should wait. Each refusal is promised its own slot after the
   * queue has drained and after the slots promised before it, so a reconnect storm returns as a
   * steady stream the queue can take, not in waves that find it full again and leave it idle.
   */
  retryAfterSeconds(now?: number): number;
  stats(): {
    admitted: number;
    running: number;
    capacity: number;
    concurrency: number;
    avgMs: number;
    maxWaitMs: number | null;
  };
}

export interface IngestQueueOptions {
  concurrency: number;
  capacity: number;
  /**
   * Admission beyond `concurrency` snapshots stops when the next one would wait longer than
   * this for its ack: (admitted + 1) × average write time / concurrency. Unset: only
   * `capacity` bounds the queue.
   */
  maxWaitMs?: number;
  /** Bounds of the back-off told to agents. */
  minRetrySeconds?: number;
  maxRetrySeconds?: number;
}

export function createIngestQueue(options: IngestQueueOptions): IngestQueue {
  const { concurrency, capacity, maxWaitMs } = options;
  const minRetry = options.minRetrySeconds ?? 1;
  // Two minutes at most: a reconnect storm of thousands of agents is spread over that long
  // without sending any of them back to a full queue a second time.
  const maxRetry = options.maxRetrySeconds ?? 120;
  let admitted = 0;
  let running = 0;
  // Moving average of one ingest's duration, to turn queue depth into a wait.
  let avgMs = 100;
  // The last slot promised to a refused agent (ms since the epoch).
  let promisedUntil = 0;
  // When the last readings finished: their spacing is the rate the queue drains at. Under CPU
  // contention one write's duration inflates more than the rate falls, so the wait is the
  // smaller of the two estimates.
  const finished: number[] = [];
  const waiting: (() => void)[] = [];
  const freeListeners: (() => void)[] = [];
  const freed = () => {
    for (const listener of freeListeners) listener();
  };

  const full = () =>
    admitted >= capacity ||
    (maxWaitMs !== undefined && admitted >= concurrency && ((admitted + 1) * avgMs) / concurrency > maxWaitMs);

  return {
    full,
    admit() {
      if (full()) return false;
      admitted += 1;
      return true;
    },
    async run(fn) {
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
        finished.push(now);
        if (finished.length > capacity) finished.shift();
        admitted -= 1;
        const next = waiting.shift();
        if (next) next();
        else running -= 1;
        freed();
      }
    },
    release() {
      if (admitted <= 0) return;
      admitted -= 1;
      freed();
    },
    onFree(listener) {
      freeListeners.push(listener);
    },
    retryAfterSeconds(now = Date.now()) {
      const spacing =
        finished.length >= concurrency
          ? ((finished.at(-1) as number) - (finished[0] as number)) / (finished.length - 1)
          : Number.POSITIVE_INFINITY;
      const perReadingMs = Math.min(avgMs / concurrency, spacing);
      const drained = now + admitted * perReadingMs;
      const slot = Math.min(now + maxRetry * 1000, Math.max(drained, promisedUntil) + perReadingMs);
      promisedUntil = slot;
      return Math.min(maxRetry, Math.max(minRetry, Math.ceil((slot - now) / 1000)));
    },
    stats: () => ({ admitted, running, capacity, concurrency, avgMs: Math.round(avgMs), maxWaitMs: maxWaitMs ?? null }),
  };
}
