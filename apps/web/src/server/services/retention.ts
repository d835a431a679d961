import type { DbClient } from '@ballast/db';
import type { Logger } from '../log';

const DAY_MS = 86_400_000;
/** Rows deleted per statement, so pruning never holds long locks or a long transaction. */
const BATCH = 5_000;

export interface RetentionPolicy {
  /** Hourly history per host; the host page's charts and the disk-full forecast read it. */
  hourlyDays: number;
  /** The fleet's stored daily totals (the overview's trend). */
  fleetDailyDays: number;
  /** Audit events (every job transition and every security-relevant change). */
  auditDays: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { hourlyDays: 90, fleetDailyDays: 730, auditDays: 730 };

export interface PruneResult {
  hourly: number;
  fleetDaily: number;
  audit: number;
}

async function pruneInBatches(run: () => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await run();
    total += deleted;
    if (deleted < BATCH) return total;
  }
}

/** Deletes history older than the policy allows, across every organization, in small batches. */
export async function pruneHistory(
  prisma: DbClient,
  policy: RetentionPolicy = DEFAULT_RETENTION,
  now = new Date(),
): Promise<PruneResult> {
  const hourlyBefore = new Date(now.getTime() - policy.hourlyDays * DAY_MS);
  const dailyBefore = new Date(now.getTime() - policy.fleetDailyDays * DAY_MS);
  const auditBefore = new Date(now.getTime() - policy.auditDays * DAY_MS);
  const hourly = await pruneInBatches(
    () => prisma.$executeRaw`
      DELETE FROM host_usage_hourly WHERE ctid IN (
        SELECT ctid FROM host_usage_hourly WHERE hour < ${hourlyBefore} LIMIT ${BATCH})`,
  );
  const fleetDaily = await pruneInBatches(
    () => prisma.$executeRaw`
      DELETE FROM fleet_usage_daily WHERE ctid IN (
        SELECT ctid FROM fleet_usage_daily WHERE day < ${dailyBefore} LIMIT ${BATCH})`,
  );
  const audit = await pruneInBatches(
    () => prisma.$executeRaw`
      DELETE FROM audit_events WHERE ctid IN (
        SELECT ctid FROM audit_events WHERE at < ${auditBefore} LIMIT ${BATCH})`,
  );
  return { hourly, fleetDaily, audit };
}

/** Prunes once shortly after start and then every `everyMs`; returns a stop function. */
export function startRetention(prisma: DbClient, policy: RetentionPolicy, log: Logger, everyMs = 3_600_000) {
  let running: Promise<void> | null = null;
  const tick = () => {
    running ??= pruneHistory(prisma, policy)
      .then((result) => {
        if (result.hourly + result.fleetDaily + result.audit > 0) log.info('pruned history', { ...result });
      })
      .catch((error) => log.error('pruning history failed', { error: String(error) }))
      .finally(() => {
        running = null;
      });
  };
  const first = setTimeout(tick, 30_000);
  const timer = setInterval(tick, everyMs);
  first.unref();
  timer.unref();
  return async () => {
    clearTimeout(first);
    clearInterval(timer);
    await running;
  };
}
