import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Content hashing reads every byte of every layer once, so on a busy host it must not compete
 * with the workloads: reads are paced to `bytesPerSecond` (CPU follows, sha256 costs a few ms
 * per MiB), each file counts at least `perFileBytes` so trees of tiny files are paced too, and
 * a pass starts no new layer once `passSeconds` are spent.
 */
export interface HashBudget {
  /** Read rate ceiling; null = as fast as the disk allows (scan --analyze, the benchmark). */
  bytesPerSecond: number | null;
  /** Seconds of hashing per slow pass after which no new layer is started; null = no limit. */
  passSeconds: number | null;
}

export const UNLIMITED_BUDGET: HashBudget = { bytesPerSecond: null, passSeconds: null };

/** What each opened file costs against the rate, whatever its size (an open, a stat, a seek). */
const PER_FILE_BYTES = 4096;

export class Pacer {
  private readonly started = performance.now();
  private consumed = 0;

  constructor(
    private readonly budget: HashBudget,
    private readonly signal?: AbortSignal,
  ) {}

  /** Seconds since this pass began. */
  elapsedSeconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  /** No new layer once the pass budget is spent. */
  exhausted(): boolean {
    return this.budget.passSeconds !== null && this.elapsedSeconds() >= this.budget.passSeconds;
  }

  file(): Promise<void> | null {
    return this.charge(PER_FILE_BYTES);
  }

  /** Charges `bytes`; returns a promise only when the caller is ahead of the rate and must wait. */
  charge(bytes: number): Promise<void> | null {
    if (this.signal?.aborted) throw this.signal.reason ?? new Error('hashing aborted');
    const rate = this.budget.bytesPerSecond;
    if (rate === null) return null;
    this.consumed += bytes;
    const aheadMs = (this.consumed / rate) * 1000 - (performance.now() - this.started);
    // Sleeping in slices under 20 ms costs more in timer overhead than it paces.
    return aheadMs > 20 ? sleep(aheadMs, undefined, { signal: this.signal }) : null;
  }
}
