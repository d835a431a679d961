import { type DbClient, newId, poolOf, splitInventoryDocument } from '@ballast/db';
import { DELTA_ENTITIES, type DeltaEntity, deltaConflict, type Inventory, type InventoryDelta } from '@ballast/shared';
import { computeOpportunities } from '@ballast/shared/savings/index';
import { isAdviceKind } from '@ballast/shared/savings/kinds';
import type { SavingsPolicy } from '@ballast/shared/savings/policy';
import type pg from 'pg';
import { FORECAST_WINDOW_DAYS, LIST_OBJECTS, utcDay } from './fleet';
import { parseSavingsPolicy } from './savings-policy';

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
 * agent keeps the host and its history. One statement on the pool, not Prisma: every agent of a
 * reconnect storm comes through here and through markDisconnected.
 */
export async function registerHost(
  prisma: DbClient,
  orgId: string,
  hello: AgentHello,
  now = new Date(),
  hostId?: string,
): Promise<{ hostId: string }> {
  const pool = poolOf(prisma);
  const seen = [hello.hostname, hello.agentVersion, now, hello.capabilities ?? null];
  const set = `hostname = $3, agent_version = $4, last_seen_at = $5, connected = true,
               capabilities = coalesce($6::text[], capabilities)`;
  if (hostId) {
    const { rowCount } = await pool.query(`UPDATE hosts SET ${set} WHERE org_id = $1 AND id = $2`, [
      orgId,
      hostId,
      ...seen,
    ]);
    if (rowCount === 0) throw new Error(`host ${hostId} does not exist`);
    return { hostId };
  }
  const existing = await pool.query<{ id: string }>(
    `UPDATE hosts SET ${set}
     WHERE org_id = $1 AND id = (
       SELECT id FROM hosts WHERE org_id = $1 AND machine_id = $2 AND clone_of IS NULL ORDER BY first_seen_at LIMIT 1)
     RETURNING id`,
    [orgId, hello.machineId, ...seen],
  );
  if (existing.rows[0]) return { hostId: existing.rows[0].id };
  const created = await prisma.host.create({
    data: {
      orgId,
      id: newId('host'),
      machineId: hello.machineId,
      firstSeenAt: now,
      hostname: hello.hostname,
      agentVersion: hello.agentVersion,
      lastSeenAt: now,
      connected: true,
      ...(hello.capabilities && { capabilities: hello.capabilities }),
    },
    select: { id: true },
  });
  return { hostId: created.id };
}

export async function markDisconnected(prisma: DbClient, orgId: string, hostId: string, now = new Date()) {
  await poolOf(prisma).query('UPDATE hosts SET connected = false, last_seen_at = $3 WHERE org_id = $1 AND id = $2', [
    orgId,
    hostId,
    now,
  ]);
}

export async function touchHost(prisma: DbClient, orgId: string, hostId: string, now = new Date()) {
  await poolOf(prisma).query('UPDATE hosts SET last_seen_at = $3 WHERE org_id = $1 AND id = $2', [orgId, hostId, now]);
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
 * How long a host's opportunities may lag its deltas. Computing them needs the whole inventory,
 * which a delta does not carry: reading the stored document back for every delta is most of
 * what a delta would cost. So a delta recomputes them only once they are this old, or after a
 * job on the host or a policy change invalidated them; a full snapshot always does.
 */
export const OPPORTUNITY_REFRESH_MS = 5 * 60_000;

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
  const conflict = reading.type === 'delta' ? deltaConflict(reading.delta) : null;
  return inTransaction(prisma, async (sql) => {
    const { rows } = await sql.query<{ stream: string | null; seq: string | null; opportunities_at: Date | null }>(
      'SELECT stream, seq, opportunities_at FROM host_inventories WHERE org_id = $1 AND host_id = $2 FOR UPDATE',
      [orgId, hostId],
    );
    const current = rows[0];
    const storedSeq = current?.seq === null || current?.seq === undefined ? null : BigInt(current.seq);
    const sameStream = current?.stream === reading.stream && storedSeq !== null;
    if (sameStream && BigInt(reading.seq) <= (storedSeq as bigint)) return { status: 'duplicate' as const };
    const position = { stream: reading.stream, seq: reading.seq };
    if (reading.type === 'snapshot') {
      const policy = await getSavingsPolicyFor(sql, orgId);
      await writeInventory(sql, orgId, hostId, position, reading.inventory, policy, receivedAt);
      return { status: 'stored' as const };
    }
    if (!current) return { status: 'resync' as const, reason: 'the server holds no reading of this host' };
    if (!sameStream) return { status: 'resync' as const, reason: 'the server holds a reading of another stream' };
    if (storedSeq !== BigInt(reading.baseSeq)) {
      return {
        status: 'resync' as const,
        reason: `the delta is on seq ${reading.baseSeq}, the server holds seq ${storedSeq}`,
      };
    }
    if (conflict) return { status: 'resync' as const, reason: `the delta does not apply: ${conflict}` };
    const applied = await applyDelta(sql, orgId, hostId, position, reading.delta, receivedAt);
    if ('missing' in applied)
      return { status: 'resync' as const, reason: `the delta does not apply: ${applied.missing}` };
    await recordReading(sql, orgId, hostId, applied.figures, new Date(applied.collectedAt), receivedAt);
    const set = reading.delta.set;
    await sql.query(
      `UPDATE hosts SET hostname = coalesce($3, hostname), agent_version = coalesce($4, agent_version),
         engine_version = coalesce($5, engine_version), storage_driver = coalesce($6, storage_driver),
         data_root = coalesce($7, data_root), labels = coalesce($8::jsonb, labels),
         last_seen_at = $9, last_snapshot_at = $9
       WHERE org_id = $1 AND id = $2`,
      [
        orgId,
        hostId,
        set.host?.hostname ?? null,
        set.agentVersion ?? null,
        set.engine?.version ?? null,
        set.engine?.storageDriver ?? null,
        set.engine?.dataRoot ?? null,
        set.host ? JSON.stringify(set.host.labels) : null,
        receivedAt,
      ],
    );
    const computedAt = current.opportunities_at?.getTime() ?? Number.NEGATIVE_INFINITY;
    if (receivedAt.getTime() - computedAt >= OPPORTUNITY_REFRESH_MS) {
      const inventory = await readInventory(sql, orgId, hostId);
      await writeOpportunities(sql, orgId, hostId, inventory, await getSavingsPolicyFor(sql, orgId), receivedAt);
    }
    return { status: 'stored' as const };
  });
}

/** The organization's savings policy, read on the transaction's own connection. */
async function getSavingsPolicyFor(sql: pg.PoolClient, orgId: string): Promise<SavingsPolicy> {
  const { rows } = await sql.query<{ policy: unknown }>('SELECT policy FROM savings_policies WHERE org_id = $1', [
    orgId,
  ]);
  return parseSavingsPolicy(rows[0]?.policy);
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
  await inTransaction(prisma, async (sql) =>
    writeInventory(
      sql,
      orgId,
      hostId,
      { stream: null, seq },
      inventory,
      await getSavingsPolicyFor(sql, orgId),
      receivedAt,
    ),
  );
}

/** The per-category figures a reading stores in the host's row and its hourly history. */
type Figures = (number | null)[];

function figuresOf(inventory: Inventory): Figures {
  const { totals, filesystem } = inventory;
  return [
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
  const { totals } = inventory;
  const figures = figuresOf(inventory);
  const stored = splitInventoryDocument(inventory as unknown as Record<string, unknown>);
  // The host's row and its document in one statement; the document goes as JSON text cast to jsonb.
  await sql.query(
    `INSERT INTO host_inventories (
       org_id, host_id, collected_at, received_at, seq, stream,
       images_bytes, containers_bytes, container_logs_bytes, volumes_bytes, build_cache_bytes,
       unattributed_bytes, fs_size_bytes, fs_used_bytes, fs_free_bytes,
       image_count, container_count, volume_count, inventory)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19::jsonb)
     ON CONFLICT (org_id, host_id) DO UPDATE SET
       collected_at = excluded.collected_at, received_at = excluded.received_at, seq = excluded.seq,
       stream = excluded.stream, images_bytes = excluded.images_bytes,
       containers_bytes = excluded.containers_bytes, container_logs_bytes = excluded.container_logs_bytes,
       volumes_bytes = excluded.volumes_bytes, build_cache_bytes = excluded.build_cache_bytes,
       unattributed_bytes = excluded.unattributed_bytes, fs_size_bytes = excluded.fs_size_bytes,
       fs_used_bytes = excluded.fs_used_bytes, fs_free_bytes = excluded.fs_free_bytes,
       image_count = excluded.image_count, container_count = excluded.container_count,
       volume_count = excluded.volume_count, inventory = excluded.inventory`,
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
      JSON.stringify(stored.inventory),
    ],
  );
  // The lists' items in one statement: items the snapshot lacks are deleted, and only items
  // that changed (or moved) are written, so a reconnecting agent's unchanged inventory costs
  // index lookups rather than a rewrite.
  await sql.query(
    `WITH incoming AS (
       SELECT r.list, r.key, r.pos, r.data FROM jsonb_to_recordset($3::jsonb) AS r(list text, key text, pos bigint, data jsonb)
     ),
     gone AS (
       DELETE FROM host_inventory_entities AS x
       WHERE x.org_id = $1 AND x.host_id = $2
         AND NOT EXISTS (SELECT 1 FROM incoming AS n WHERE n.list = x.list AND n.key = x.key)
     )
     INSERT INTO host_inventory_entities AS e (org_id, host_id, list, key, pos, data)
     SELECT $1, $2, list, key, pos, data FROM incoming
     ON CONFLICT (org_id, host_id, list, key) DO UPDATE SET pos = excluded.pos, data = excluded.data
     WHERE e.pos IS DISTINCT FROM excluded.pos OR e.data IS DISTINCT FROM excluded.data`,
    [orgId, hostId, JSON.stringify(stored.entities)],
  );
  await recordReading(sql, orgId, hostId, figures, collectedAt, receivedAt);
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
  await writeOpportunities(sql, orgId, hostId, inventory, policy, receivedAt);
}

/** Entity lists a delta changes, with the field that keys their items. */
const ENTITY_LISTS = Object.entries(DELTA_ENTITIES) as [DeltaEntity, string][];

/**
 * Applies a delta to the stored inventory inside PostgreSQL, so the inventory never travels to
 * the server and back: `remove` keys are deleted and `put` items upserted (an item already
 * stored keeps its place, a new one goes after the others in the delta's order, as
 * applyInventoryDelta does), the document's other fields are replaced or dropped, and the row's
 * figures are read from the result. Changes nothing and names the key when the delta removes
 * an item the stored inventory lacks; returns null when the host has no stored inventory.
 */
async function applyDelta(
  sql: pg.PoolClient,
  orgId: string,
  hostId: string,
  position: { stream: string; seq: number },
  delta: InventoryDelta,
  receivedAt: Date,
): Promise<{ collectedAt: string; figures: Figures } | { missing: string }> {
  const removes: { list: DeltaEntity; key: string; n: number }[] = [];
  const puts: { list: DeltaEntity; key: string; pos: number; data: unknown }[] = [];
  for (const [list, field] of ENTITY_LISTS) {
    const change = delta[list];
    if (!change) continue;
    for (const key of change.remove) removes.push({ list, key, n: removes.length });
    for (const item of change.put) {
      puts.push({
        list,
        key: (item as unknown as Record<string, string>)[field] as string,
        pos: puts.length + 1,
        data: item,
      });
    }
  }
  if (removes.length > 0) {
    const { rows } = await sql.query<{ list: string; key: string }>(
      `SELECT r.list, r.key FROM jsonb_to_recordset($3::jsonb) AS r(list text, key text, n int)
       WHERE NOT EXISTS (
         SELECT 1 FROM host_inventory_entities AS e
         WHERE e.org_id = $1 AND e.host_id = $2 AND e.list = r.list AND e.key = r.key)
       ORDER BY r.n LIMIT 1`,
      [orgId, hostId, JSON.stringify(removes)],
    );
    const missing = rows[0];
    if (missing) return { missing: `${missing.list}: ${missing.key} is not in the base` };
  }
  const bigint = (path: string) => `(next.doc${path})::bigint`;
  const { rows } = await sql.query<{ collected_at: string; figures: (string | null)[] }>(
    `WITH next AS MATERIALIZED (
       SELECT (inventory - $4::text[]) || $3::jsonb AS doc FROM host_inventories WHERE org_id = $1 AND host_id = $2
     )
     UPDATE host_inventories AS i SET
       inventory = next.doc,
       collected_at = (next.doc->>'collectedAt')::timestamptz, received_at = $5, seq = $6, stream = $7,
       images_bytes = ${bigint("->'totals'->>'imagesBytes'")},
       containers_bytes = ${bigint("->'totals'->>'containersBytes'")},
       container_logs_bytes = ${bigint("->'totals'->>'containerLogsBytes'")},
       volumes_bytes = ${bigint("->'totals'->>'volumesBytes'")},
       build_cache_bytes = ${bigint("->'totals'->>'buildCacheBytes'")},
       unattributed_bytes = ${bigint("->'totals'->>'unattributedBytes'")},
       fs_size_bytes = ${bigint("->'filesystem'->>'sizeBytes'")},
       fs_used_bytes = ${bigint("->'filesystem'->>'usedBytes'")},
       fs_free_bytes = ${bigint("->'filesystem'->>'freeBytes'")},
       image_count = (next.doc->'totals'->>'imageCount')::int,
       container_count = (next.doc->'totals'->>'containerCount')::int,
       volume_count = (next.doc->'totals'->>'volumeCount')::int
     FROM next
     WHERE i.org_id = $1 AND i.host_id = $2
     RETURNING next.doc->>'collectedAt' AS collected_at,
       ARRAY[i.images_bytes, i.containers_bytes, i.container_logs_bytes, i.volumes_bytes, i.build_cache_bytes,
             i.unattributed_bytes, i.fs_size_bytes, i.fs_used_bytes, i.fs_free_bytes]::text[] AS figures`,
    [orgId, hostId, JSON.stringify(delta.set), delta.unset, receivedAt, position.seq, position.stream],
  );
  const row = rows[0];
  if (!row) return { missing: 'the server holds no reading of this host' };
  if (removes.length > 0 || puts.length > 0) {
    await sql.query(
      `WITH gone AS (
         DELETE FROM host_inventory_entities AS x USING jsonb_to_recordset($3::jsonb) AS r(list text, key text)
         WHERE x.org_id = $1 AND x.host_id = $2 AND x.list = r.list AND x.key = r.key
       ),
       top AS (
         SELECT list, max(pos) AS pos FROM host_inventory_entities WHERE org_id = $1 AND host_id = $2 GROUP BY list
       )
       INSERT INTO host_inventory_entities AS e (org_id, host_id, list, key, pos, data)
       SELECT $1, $2, p.list, p.key, coalesce(top.pos, 0) + p.pos, p.data
       FROM jsonb_to_recordset($4::jsonb) AS p(list text, key text, pos bigint, data jsonb)
       LEFT JOIN top ON top.list = p.list
       ON CONFLICT (org_id, host_id, list, key) DO UPDATE SET data = excluded.data`,
      [orgId, hostId, JSON.stringify(removes), JSON.stringify(puts)],
    );
  }
  return { collectedAt: row.collected_at, figures: row.figures.map((f) => (f === null ? null : Number(f))) };
}

/** The host's stored inventory document, lists in their stored order. */
async function readInventory(sql: pg.PoolClient, orgId: string, hostId: string): Promise<Inventory> {
  const [doc, lists] = await Promise.all([
    sql.query<{ inventory: string }>(
      'SELECT inventory::text AS inventory FROM host_inventories WHERE org_id = $1 AND host_id = $2',
      [orgId, hostId],
    ),
    // Each list as one JSON text (its items' text joined), parsed once on this side.
    sql.query<{ list: string; items: string }>(
      `SELECT list, '[' || string_agg(data::text, ',' ORDER BY pos) || ']' AS items
       FROM host_inventory_entities WHERE org_id = $1 AND host_id = $2 GROUP BY list`,
      [orgId, hostId],
    ),
  ]);
  const inventory: Record<string, unknown> = {
    ...JSON.parse(doc.rows[0]?.inventory ?? '{}'),
    images: [],
    layers: [],
    containers: [],
    volumes: [],
  };
  for (const row of lists.rows) inventory[row.list] = JSON.parse(row.items);
  return inventory as unknown as Inventory;
}

/**
 * Folds a stored reading into the host's hourly history, refits its forecast at the first
 * reading of each hour, and drops a finished day's fleet total the reading makes stale.
 */
async function recordReading(
  sql: pg.PoolClient,
  orgId: string,
  hostId: string,
  figures: Figures,
  collectedAt: Date,
  receivedAt: Date,
) {
  const hour = hourOf(collectedAt);
  const forecastSince = new Date(collectedAt.getTime() - FORECAST_WINDOW_DAYS * DAY_MS);
  const day = utcDay(hour);
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
  // A reading for a finished day (an agent replaying what it could not send) makes that
  // day's stored fleet total stale: drop it, the next read recomputes it.
  if (day.getTime() < utcDay(receivedAt).getTime()) {
    await sql.query('DELETE FROM fleet_usage_daily WHERE org_id = $1 AND day = $2', [orgId, day]);
  }
}

/**
 * Replaces the host's opportunities with those of `inventory` and their sums in its row, and
 * marks when they were computed.
 */
async function writeOpportunities(
  sql: pg.PoolClient,
  orgId: string,
  hostId: string,
  inventory: Inventory,
  policy: SavingsPolicy,
  computedAt: Date,
) {
  // One row per opportunity kind, as one JSON document that PostgreSQL unpacks into rows.
  const opportunities = computeOpportunities(inventory, policy, new Date(inventory.collectedAt)).map((opportunity) => ({
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
  await sql.query(
    `UPDATE host_inventories SET reclaimable_bytes = $3, reclaimable_monthly_cost = $4, opportunities_at = $5
     WHERE org_id = $1 AND host_id = $2`,
    [orgId, hostId, reclaimableBytes, reclaimableMonthlyCost, computedAt],
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
    [orgId, hostId, computedAt, JSON.stringify(opportunities)],
  );
}
