import type { CollectorReport } from '@ballast/shared';
import { errorMessage } from '../log.js';

export interface Collector<C> {
  name: string;
  collect(ctx: C): Promise<void>;
}

/**
 * Runs collectors one after another (later ones read what earlier ones found). A failing
 * collector is reported and the rest still run; finding nothing is a success.
 */
export async function runCollectors<C>(
  collectors: readonly Collector<C>[],
  ctx: C,
  onReport?: (report: CollectorReport) => void,
): Promise<CollectorReport[]> {
  const reports: CollectorReport[] = [];
  for (const collector of collectors) {
    const started = performance.now();
    let error: string | null = null;
    try {
      await collector.collect(ctx);
    } catch (err) {
      error = errorMessage(err);
    }
    const report: CollectorReport = {
      name: collector.name,
      ok: error === null,
      durationMs: Math.round((performance.now() - started) * 10) / 10,
      error,
    };
    reports.push(report);
    onReport?.(report);
  }
  return reports;
}

/**
 * Runs collectors that do not depend on each other all at once (the slow walks, which share
 * the bounded walk pool); reports keep the declared order, `onReport` fires as each finishes.
 */
export async function runCollectorsConcurrently<C>(
  collectors: readonly Collector<C>[],
  ctx: C,
  onReport?: (report: CollectorReport) => void,
): Promise<CollectorReport[]> {
  return Promise.all(collectors.map((c) => runCollectors([c], ctx, onReport).then((r) => r[0] as CollectorReport)));
}
