import { type DbClient, newId, poolOf } from '@ballast/db';
import { applyInventoryDelta, type Inventory, type InventoryDelta } from '@ballast/shared';
import { computeOpportunities } from '@ballast/shared/savings/index';
import { isAdviceKind } from '@ballast/shared/savings/kinds';
import type { SavingsPolicy } from '@ballast/shared/savings/policy';
import type pg from 'pg';
import { FORECAST_WINDOW_DAYS, LIST_OBJECTS, utcDay } from './fleet';
import { getSavingsPolicy } from './savings-policy';

const DAY_MS = 86_400_000;

export interface AgentHello {
  machineId: string;
  hostname: string;
  agentVersion: string;
  /** What the agent takes (`jobs`, `job:<kind>`); kept so jobs are refused for kinds it would refuse. */
  capabilities?: string[];
}

/**
 * Marks the host an agent speaks for as connected. An enrolled agent's credential names its
 * host (`hostId`); the shared development token does not, so then identity is the machine ID
 * within the organization (the original host, never a suspected clone), and reinstalling the
 * agent keeps the host and its history.
 */
export async function registerHost(
  prisma: DbClient,
  orgId: string,
  hello: AgentHello,
  now = new Date(),
  hostId?: string,
): Promise<{ hostId: string }> {
  const seen = {
    hostname: hello.hostname,
    agentVersion: hello.agentVersion,
    lastSeenAt: now,
    connected: true,
    ...(hello.capabilities && { capabilities: hello.capabilities }),
  };
  if (hostId) {
    await prisma.host.update({ where: { orgId_id: { orgId, id: hostId } }, data: seen, select: { id: true } });
    return { hostId };
  }
  const existing = await prisma.host.findFirst({
    where: { orgId, machineId: hello.machineId, cloneOf: null },
    orderBy: { firstSeenAt: 'asc' },
    select: { id: true },
  });
  if (existing) {
    await prisma.host.update({ where: { orgId_id: { orgId, id: existing.id } }, data: seen, select: { id: true } });
    return { hostId: existing.id };
  }
  const created = await prisma.host.create({
    data: { orgId, id: newId('host'), machineId: hello.machineId, firstSeenAt: now, ...seen },
    select: { id: true },
  });
  return { hostId: created.id };
}

export async function markDisconnected(prisma: DbClient, orgId: string, hostId: string, now = new Date()) {
  await prisma.host.update({
    where: { orgId_id: { orgId, id: hostId } },
    data: { connected: false, lastSeenAt: now },
  });
}

export async function touchHost(prisma: DbClient, orgId: string, hostId: string, now = new Date()) {
  await prisma.host.update({ where: { orgId_id: { orgId, id: hostId } }, data: { lastSeenAt: now } });
}

function hourOf(date: Date): Date {
  const hour = new Date(date);
  hour.setUTCMinutes(0, 0, 0);
  return hour;
}

/** A reading an agent sent: a full inventory or the changes since one of its stream. */
export type Reading =
  | { type: 'snapshot'; stream: string; seq: number; inventory: Inventory }
  | { type: 'delta'; stream: string; seq: number; baseSeq: number; delta: InventoryDelta };

/**
 * `stored`: the reading is the host's latest state now. `duplicate`: the host already has this
 * seq of this stream (a frame re-sent after a lost ack), nothing changed. `resync`: a delta whose
 * base the server does not hold, nothing changed; the agent is asked for a full snapshot.
 */
export type IngestOutcome = { status: 'stored' } | { status: 'duplicate' } | { status: 'resync'; reason: string };

/**
 * Runs `fn` in one transaction on a connection of the client's own pool. The ingest path talks
 * to PostgreSQL directly: its statements carry documents of half a megabyte, which Prisma would
 * re-encode (see poolOf). Nothing inside may await Prisma (the embedded database has one
 * connection).
 */
async function inTransaction<T>(prisma: DbClient, fn: (sql: pg.PoolClient) => Promise<T>): Promise<T> {
  const sql = await poolOf(prisma).connect();
  let broken: Error | undefined;
  try {
    await sql.query('BEGIN');
    const result = await fn(sql);
    await sql.query('COMMIT');
    return result;
  } catch (error) {
    await sql.query('ROLLBACK').catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    throw error;
  } finally {
    sql.release(broken);
  }
}

/**
 * Applies an agent's reading exactly once. The host's row is locked first, so two connections
 * of one host (a cloned state directory) cannot interleave: the stored (stream, seq) decides
 * whether the reading is new, already stored, or a delta on a base the server does not hold.
 */
export async function ingestReading(
  prisma: DbClient,
  orgId: string,
  hostId: string,
  reading: Reading,
  receivedAt = new Date(),
): Promise<IngestOutcome> {
  const policy = await getSavingsPolicy(prisma, orgId);
  return inTransaction(prisma, async (sql) => {
    const { rows } = await sql.query<{ stream: string | null; seq: string | null }>(
      'SELECT stream, seq FROM host_inventories WHERE org_id = $1 AND host_id = $2 FOR UPDATE',
      [orgId, hostId],
    );
    const current = rows[0];
    const storedSeq = current?.seq === null || current?.seq === undefined ? null : BigInt(current.seq);
    const sameStream = current?.stream === reading.stream && storedSeq !== null;
    if (sameStream && BigInt(reading.seq) <= (storedSeq as bigint)) return { status: 'duplicate' as const };
    let inventory: Inventory;
    if (reading.type === 'snapshot') {
      inventory = reading.inventory;
    } else {
      if (!current) return { status: 'resync' as const, reason: 'the server holds no reading of this host' };
      if (!sameStream) return { status: 'resync' as const, reason: 'the server holds a reading of another stream' };
      if (storedSeq !== BigInt(reading.baseSeq)) {
        return {
          status: 'resync' as const,
          reason: `the delta is on seq ${reading.baseSeq}, the server holds seq ${storedSeq}`,
        };
      }
      const base = await sql.query<{ inventory: string }>(
        'SELECT inventory::text AS inventory FROM host_inventories WHERE org_id = $1 AND host_id = $2',
        [orgId, hostId],
      );
      const applied = applyInventoryDelta(JSON.parse(base.rows[0]?.inventory ?? 'null') as Inventory, reading.delta);
      if (!applied.ok) return { status: 'resync' as const, reason: `the delta does not apply: ${applied.reason}` };
      inventory = applied.inventory;
    }
    await writeInventory(
      sql,
      orgId,
      hostId,
      { stream: reading.stream, seq: reading.seq },
      inventory,
      policy,
      receivedAt,
    );
    return { status: 'stored' as const };
  });
}

/**
 * Stores a full inventory as the host's latest state whatever it held before, outside any
 * agent stream (seeding, imports and tests; agents' frames go through ingestReading).
 */
export async function recordSnapshot(
  prisma: DbClient,
  orgId: string,
  hostId: string,
  seq: number,
  inventory: Inventory,
  receivedAt = new Date(),
) {
  const policy = await getSavingsPolicy(prisma, orgId);
  await inTransaction(prisma, (sql) =>
    writeInventory(sql, orgId, hostId, { stream: null, seq }, inventory, policy, receivedAt),
  );
}

/**
 * Stores a full inventory as the host's latest state, folds it into the hourly history and
 * replaces the host's savings opportunities, inside the caller's transaction so the dashboard
 * never sees half a snapshot (or opportunities of an older one).
 */
async function writeInventory(
  sql: pg.PoolClient,
  orgId: string,
  hostId: string,
  position: { stream: string | null; seq: number },
  inventory: Inventory,
  policy: SavingsPolicy,
  receivedAt: Date,
) {
  const collectedAt = new Date(inventory.collectedAt);
  const { totals, filesystem } = inventory;
  const hour = hourOf(collectedAt);
  // One row per opportunity kind, as one JSON document that PostgreSQL unpacks into rows.
  const opportunities = computeOpportunities(inventory, policy, collectedAt).map((opportunity) => ({
    kind: opportunity.kind,
    title: opportunity.title,
    reclaimable_bytes: opportunity.reclaimableBytes,
    monthly_cost: opportunity.monthlyCost,
    risk: opportunity.risk,
    confidence: opportunity.confidence,
    explanation: opportunity.explanation,
    caveats: opportunity.caveats,
    objects: opportunity.objects,
    object_count: opportunity.objects.length,
    top_objects: opportunity.objects.slice(0, LIST_OBJECTS),
    action: opportunity.action ?? null,
    default_selected: opportunity.defaultSelected,
  }));
  // What the fleet can reclaim: every opportunity but advice (duplicate content), which no job frees.
  const actionable = opportunities.filter((o) => !isAdviceKind(o.kind));
  const reclaimableBytes = actionable.reduce((sum, o) => sum + o.reclaimable_bytes, 0);
  const reclaimableMonthlyCost = actionable.reduce((sum, o) => sum + o.monthly_cost, 0);
  const forecastSince = new Date(collectedAt.getTime() - FORECAST_WINDOW_DAYS * DAY_MS);
  const day = utcDay(hour);
  const figures = [
    totals.imagesBytes,
    totals.containersBytes,
    totals.containerLogsBytes,
    totals.volumesBytes,
    totals.buildCacheBytes,
    totals.unattributedBytes,
    filesystem?.sizeBytes ?? null,
    filesystem?.usedBytes ?? null,
    filesystem?.freeBytes ?? null,
  ];
  // The host's row and its document in one statement; the document goes as JSON text cast to jsonb.
  await sql.query(
    `INSERT INTO host_inventories (
       org_id, host_id, collected_at, received_at, seq, stream,
       images_bytes, containers_bytes, container_logs_bytes, volumes_bytes, build_cache_bytes,
       unattributed_bytes, fs_size_bytes, fs_used_bytes, fs_free_bytes,
       image_count, container_count, volume_count, reclaimable_bytes, reclaimable_monthly_cost, inventory)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21::jsonb)
     ON CONFLICT (org_id, host_id) DO UPDATE SET
       collected_at = excluded.collected_at, received_at = excluded.received_at, seq = excluded.seq,
       stream = excluded.stream, images_bytes = excluded.images_bytes,
       containers_bytes = excluded.containers_bytes, container_logs_bytes = excluded.container_logs_bytes,
       volumes_bytes = excluded.volumes_bytes, build_cache_bytes = excluded.build_cache_bytes,
       unattributed_bytes = excluded.unattributed_bytes, fs_size_bytes = excluded.fs_size_bytes,
       fs_used_bytes = excluded.fs_used_bytes, fs_free_bytes = excluded.fs_free_bytes,
       image_count = excluded.image_count, container_count = excluded.container_count,
       volume_count = excluded.volume_count, reclaimable_bytes = excluded.reclaimable_bytes,
       reclaimable_monthly_cost = excluded.reclaimable_monthly_cost, inventory = excluded.inventory`,
    [
      orgId,
      hostId,
      collectedAt,
      receivedAt,
      position.seq,
      position.stream,
      ...figures,
      totals.imageCount,
      totals.containerCount,
      totals.volumeCount,
      reclaimableBytes,
      reclaimableMonthlyCost,
      JSON.stringify(inventory),
    ],
  );
  const hourly = await sql.query<{ samples: number }>(
    `INSERT INTO host_usage_hourly (
       org_id, host_id, hour, images_bytes, containers_bytes, container_logs_bytes, volumes_bytes,
       build_cache_bytes, unattributed_bytes, fs_size_bytes, fs_used_bytes, fs_free_bytes, samples)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1)
     ON CONFLICT (org_id, host_id, hour) DO UPDATE SET
       images_bytes = excluded.images_bytes, containers_bytes = excluded.containers_bytes,
       container_logs_bytes = excluded.container_logs_bytes, volumes_bytes = excluded.volumes_bytes,
       build_cache_bytes = excluded.build_cache_bytes, unattributed_bytes = excluded.unattributed_bytes,
       fs_size_bytes = excluded.fs_size_bytes, fs_used_bytes = excluded.fs_used_bytes,
       fs_free_bytes = excluded.fs_free_bytes, samples = host_usage_hourly.samples + 1
     RETURNING samples`,
    [orgId, hostId, hour, ...figures],
  );
  // The host's disk-full forecast and log growth, refit over its recent hourly history including
  // this hour (regr_slope skips hours without a filesystem reading). Once per hour, at its first
  // reading: a fit over 14 days of hourly points barely moves within the hour, and the refit
  // costs about 2 ms of database time per reading.
  if (hourly.rows[0]?.samples === 1) {
    await sql.query(
      `UPDATE host_inventories AS i
       SET growth_bytes_per_day = fit.slope,
           log_growth_bytes_per_day = fit.log_slope,
           full_at = CASE
             WHEN fit.slope > 0 AND i.fs_size_bytes IS NOT NULL AND i.fs_used_bytes IS NOT NULL
             THEN $3::timestamptz
                  + least(greatest(i.fs_size_bytes - i.fs_used_bytes, 0) / fit.slope, 36500) * interval '1 day'
           END
       FROM (
         SELECT regr_slope(fs_used_bytes::float8, extract(epoch FROM hour)) * 86400 AS slope,
                regr_slope(container_logs_bytes::float8, extract(epoch FROM hour)) * 86400 AS log_slope
         FROM host_usage_hourly
         WHERE org_id = $1 AND host_id = $2 AND hour >= $4
       ) AS fit
       WHERE i.org_id = $1 AND i.host_id = $2`,
      [orgId, hostId, collectedAt, forecastSince],
    );
  }
  // A snapshot for a finished day (an agent replaying what it could not send) makes that
  // day's stored fleet total stale: drop it, the next read recomputes it.
  if (day.getTime() < utcDay(receivedAt).getTime()) {
    await sql.query('DELETE FROM fleet_usage_daily WHERE org_id = $1 AND day = $2', [orgId, day]);
  }
  await sql.query(
    `UPDATE hosts SET hostname = $3, agent_version = $4, engine_version = $5, storage_driver = $6,
       data_root = $7, labels = $8::jsonb, last_seen_at = $9, last_snapshot_at = $9
     WHERE org_id = $1 AND id = $2`,
    [
      orgId,
      hostId,
      inventory.host.hostname,
      inventory.agentVersion,
      inventory.engine.version,
      inventory.engine.storageDriver,
      inventory.engine.dataRoot,
      JSON.stringify(inventory.host.labels),
      receivedAt,
    ],
  );
  await sql.query('DELETE FROM host_opportunities WHERE org_id = $1 AND host_id = $2', [orgId, hostId]);
  if (opportunities.length === 0) return;
  await sql.query(
    `INSERT INTO host_opportunities (
       org_id, host_id, kind, title, reclaimable_bytes, monthly_cost, risk, confidence, explanation,
       caveats, objects, object_count, top_objects, action, default_selected, computed_at)
     SELECT $1, $2, o.kind, o.title, o.reclaimable_bytes, o.monthly_cost, o.risk, o.confidence,
            o.explanation, o.caveats, o.objects, o.object_count, o.top_objects, o.action, o.default_selected, $3
     FROM jsonb_to_recordset($4::jsonb) AS o(
       kind text, title text, reclaimable_bytes bigint, monthly_cost float8, risk text, confidence text,
       explanation text, caveats jsonb, objects jsonb, object_count int, top_objects jsonb, action jsonb,
       default_selected boolean)`,
    [orgId, hostId, receivedAt, JSON.stringify(opportunities)],
  );
}
