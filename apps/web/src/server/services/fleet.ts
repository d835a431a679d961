import type { DbClient, Prisma } from '@ballast/db';
import { join, sql } from '@ballast/db/sql';
import { ADVICE_KINDS, OPPORTUNITY_KINDS } from '@ballast/shared/savings/kinds';
import { z } from 'zod';
import { getSavingsPolicy } from './savings-policy';

const DAY_MS = 86_400_000;
/** Bytes fit in a double up to 8 PiB; a fleet sum past that would need strings on the wire. */
const num = (value: bigint | number | null | undefined): number =>
  value === null || value === undefined ? 0 : Number(value);

export interface FleetTrendPoint {
  day: Date;
  usedBytes: number;
  dockerBytes: number;
  hosts: number;
}

export interface HostNearFull {
  hostId: string;
  hostname: string;
  sizeBytes: number;
  usedBytes: number;
  growthBytesPerDay: number;
  daysUntilFull: number;
  fullAt: Date;
}

/** Least-squares window for the fleet's disk-full ranking; the host page uses the same. */
export const FORECAST_WINDOW_DAYS = 14;

/** Objects listed per opportunity in lists; the count says how many there are in all. */
export const LIST_OBJECTS = 20;

interface OpportunityRow {
  host_id: string;
  hostname: string;
  kind: string;
  title: string;
  reclaimable_bytes: bigint;
  monthly_cost: number;
  risk: string;
  confidence: string;
  explanation: string;
  caveats: unknown;
  objects: unknown;
  object_count: number;
  log_growth_bytes_per_day: number | null;
  action: Prisma.JsonValue;
  default_selected: boolean;
  computed_at: Date;
}

const ZObjects = z
  .array(z.object({ id: z.string(), name: z.string(), bytes: z.number(), note: z.string().optional() }))
  .catch([]);

function toOpportunity(row: OpportunityRow) {
  return {
    hostId: row.host_id,
    hostname: row.hostname,
    kind: row.kind,
    title: row.title,
    reclaimableBytes: Number(row.reclaimable_bytes),
    monthlyCost: row.monthly_cost,
    risk: row.risk,
    confidence: row.confidence,
    explanation: row.explanation,
    caveats: z.array(z.string()).catch([]).parse(row.caveats),
    /** The largest objects first (stored sorted by bytes), at most the list's limit. */
    objects: ZObjects.parse(row.objects),
    objectCount: row.object_count,
    /** For container logs: how fast this host's logs grow (bytes per day, 14-day fit), when known. */
    logGrowthBytesPerDay: row.kind === 'logs.unbounded' ? row.log_growth_bytes_per_day : null,
    action: row.action,
    defaultSelected: row.default_selected,
    computedAt: row.computed_at,
  };
}
export type StoredOpportunity = ReturnType<typeof toOpportunity>;

/** The fleet's totals, trend, top opportunities and the hosts nearest to a full disk. */
export async function fleetOverview(prisma: DbClient, orgId: string, now = new Date()) {
  const since = new Date(now.getTime() - 30 * DAY_MS);
  const [totals, reclaimable, trend, top, nearFull, hostCount] = await Promise.all([
    prisma.hostInventory.aggregate({
      where: { orgId },
      _sum: {
        imagesBytes: true,
        containersBytes: true,
        containerLogsBytes: true,
        volumesBytes: true,
        buildCacheBytes: true,
        fsUsedBytes: true,
        fsSizeBytes: true,
      },
      _count: { hostId: true },
    }),
    prisma.hostInventory.aggregate({
      where: { orgId },
      _sum: { reclaimableBytes: true, reclaimableMonthlyCost: true },
    }),
    fleetTrend(prisma, orgId, since, now),
    listOpportunities(prisma, orgId, ZOpportunityListInput.parse({ limit: 10 })),
    nearestToFull(prisma, orgId, 5, now),
    prisma.host.count({ where: { orgId } }),
  ]);
  const sum = totals._sum;
  const dockerBytes =
    num(sum.imagesBytes) +
    num(sum.containersBytes) +
    num(sum.containerLogsBytes) +
    num(sum.volumesBytes) +
    num(sum.buildCacheBytes);
  return {
    hostCount,
    reportingHosts: totals._count.hostId,
    usedBytes: num(sum.fsUsedBytes),
    sizeBytes: num(sum.fsSizeBytes),
    dockerBytes,
    byCategory: {
      imagesBytes: num(sum.imagesBytes),
      containersBytes: num(sum.containersBytes),
      containerLogsBytes: num(sum.containerLogsBytes),
      volumesBytes: num(sum.volumesBytes),
      buildCacheBytes: num(sum.buildCacheBytes),
    },
    reclaimableBytes: num(reclaimable._sum.reclaimableBytes),
    monthlyCost: reclaimable._sum.reclaimableMonthlyCost ?? 0,
    trend,
    topOpportunities: top,
    nearestToFull: nearFull,
  };
}

/** Midnight UTC of the day `date` falls in. */
export function utcDay(date: Date): Date {
  return new Date(Math.floor(date.getTime() / DAY_MS) * DAY_MS);
}

/**
 * The fleet's daily totals since `since`: each host's last reading of each day, summed per day.
 * Finished days come from fleet_usage_daily, filled here from the hourly history the first
 * time a day is read (ingest clears a day a late snapshot lands in); today is live, from each
 * host's latest inventory when it was collected today, which is that host's last reading so far.
 */
async function fleetTrend(prisma: DbClient, orgId: string, since: Date, now: Date): Promise<FleetTrendPoint[]> {
  const first = utcDay(since);
  const today = utcDay(now);
  const stored = await prisma.fleetUsageDaily.findMany({
    where: { orgId, day: { gte: first, lt: today } },
    select: { day: true },
  });
  const have = new Set(stored.map((row) => row.day.getTime()));
  const missing: Date[] = [];
  for (let day = first.getTime(); day < today.getTime(); day += DAY_MS) {
    if (!have.has(day)) missing.push(new Date(day));
  }
  if (missing.length > 0) {
    // Days without any reading are stored too (hosts = 0), so they are not recomputed at every read.
    const from = missing[0] as Date;
    const to = new Date((missing[missing.length - 1] as Date).getTime() + DAY_MS);
    await prisma.$executeRaw`
      INSERT INTO fleet_usage_daily (org_id, day, hosts, images_bytes, containers_bytes, container_logs_bytes,
                                     volumes_bytes, build_cache_bytes, fs_size_bytes, fs_used_bytes)
      SELECT ${orgId}, d.day, count(l.day)::int, coalesce(sum(l.images_bytes), 0), coalesce(sum(l.containers_bytes), 0),
             coalesce(sum(l.container_logs_bytes), 0), coalesce(sum(l.volumes_bytes), 0),
             coalesce(sum(l.build_cache_bytes), 0), sum(l.fs_size_bytes), sum(l.fs_used_bytes)
      FROM unnest(${missing}::timestamptz[]) AS d(day)
      LEFT JOIN (
        SELECT DISTINCT ON (host_id, date_trunc('day', hour, 'UTC'))
               date_trunc('day', hour, 'UTC') AS day, images_bytes, containers_bytes, container_logs_bytes,
               volumes_bytes, build_cache_bytes, fs_size_bytes, fs_used_bytes
        FROM host_usage_hourly
        WHERE org_id = ${orgId} AND hour >= ${from} AND hour < ${to}
        ORDER BY host_id, date_trunc('day', hour, 'UTC'), hour DESC
      ) AS l ON l.day = d.day
      GROUP BY d.day
      ON CONFLICT (org_id, day) DO NOTHING`;
  }
  const [days, live] = await Promise.all([
    prisma.fleetUsageDaily.findMany({
      where: { orgId, day: { gte: first, lt: today }, hosts: { gt: 0 } },
      orderBy: { day: 'asc' },
    }),
    prisma.hostInventory.aggregate({
      where: { orgId, collectedAt: { gte: today } },
      _sum: {
        imagesBytes: true,
        containersBytes: true,
        containerLogsBytes: true,
        volumesBytes: true,
        buildCacheBytes: true,
        fsUsedBytes: true,
      },
      _count: { hostId: true },
    }),
  ]);
  const dockerBytes = (row: {
    imagesBytes: bigint | null;
    containersBytes: bigint | null;
    containerLogsBytes: bigint | null;
    volumesBytes: bigint | null;
    buildCacheBytes: bigint | null;
  }) =>
    num(row.imagesBytes) +
    num(row.containersBytes) +
    num(row.containerLogsBytes) +
    num(row.volumesBytes) +
    num(row.buildCacheBytes);
  const trend = days.map((row) => ({
    day: row.day,
    usedBytes: num(row.fsUsedBytes),
    dockerBytes: dockerBytes(row),
    hosts: row.hosts,
  }));
  if (live._count.hostId > 0) {
    trend.push({
      day: today,
      usedBytes: num(live._sum.fsUsedBytes),
      dockerBytes: dockerBytes(live._sum),
      hosts: live._count.hostId,
    });
  }
  return trend;
}

/**
 * Hosts ranked by when their disk fills, from the growth ingest fits to each host's last
 * FORECAST_WINDOW_DAYS of hourly history (the least-squares slope, regr_slope, the same fit
 * as forecastDiskFull): an index scan over host_inventories (org_id, full_at).
 */
async function nearestToFull(prisma: DbClient, orgId: string, limit: number, now: Date): Promise<HostNearFull[]> {
  const rows = await prisma.hostInventory.findMany({
    where: { orgId, fullAt: { not: null }, growthBytesPerDay: { gt: 0 } },
    orderBy: [{ fullAt: 'asc' }, { hostId: 'asc' }],
    take: limit,
    select: {
      hostId: true,
      fsSizeBytes: true,
      fsUsedBytes: true,
      growthBytesPerDay: true,
      host: { select: { hostname: true } },
    },
  });
  return rows.flatMap((row) => {
    if (row.fsSizeBytes === null || row.fsUsedBytes === null || !row.growthBytesPerDay) return [];
    const daysUntilFull = Math.max(0, (num(row.fsSizeBytes) - num(row.fsUsedBytes)) / row.growthBytesPerDay);
    return [
      {
        hostId: row.hostId,
        hostname: row.host.hostname,
        sizeBytes: num(row.fsSizeBytes),
        usedBytes: num(row.fsUsedBytes),
        growthBytesPerDay: row.growthBytesPerDay,
        daysUntilFull,
        fullAt: new Date(now.getTime() + daysUntilFull * DAY_MS),
      },
    ];
  });
}

export const ZOpportunityListInput = z.object({
  sort: z.enum(['monthlyCost', 'reclaimableBytes']).default('monthlyCost'),
  direction: z.enum(['asc', 'desc']).default('desc'),
  kind: z.enum(OPPORTUNITY_KINDS).optional(),
  risk: z.enum(['low', 'medium', 'high']).optional(),
  /** A host label, `key` or `key=value`: the fleet's way of grouping hosts. */
  hostLabel: z.string().min(1).max(256).optional(),
  hostId: z.string().min(1).max(64).optional(),
  /** A host group: hosts whose group label (the savings policy's groupLabel) has this value. */
  group: z.string().min(1).max(128).optional(),
  limit: z.number().int().min(1).max(500).default(200),
});
export type OpportunityListInput = z.infer<typeof ZOpportunityListInput>;

/**
 * Opportunities across the fleet, ranked in SQL over the (org_id, monthly_cost) and
 * (org_id, kind, monthly_cost) indexes. Lists carry each opportunity's largest `maxObjects`
 * objects and the total count, so a page of 200 stays small whatever the hosts hold.
 */
export async function listOpportunities(
  prisma: DbClient,
  orgId: string,
  input: OpportunityListInput,
  maxObjects = LIST_OBJECTS,
) {
  const conditions = [sql`o.org_id = ${orgId}`];
  if (input.kind) conditions.push(sql`o.kind = ${input.kind}`);
  if (input.risk) conditions.push(sql`o.risk = ${input.risk}`);
  if (input.hostId) conditions.push(sql`o.host_id = ${input.hostId}`);
  if (input.hostLabel !== undefined) {
    const eq = input.hostLabel.indexOf('=');
    conditions.push(
      eq === -1
        ? sql`h.labels ? ${input.hostLabel}`
        : sql`h.labels ->> ${input.hostLabel.slice(0, eq)} = ${input.hostLabel.slice(eq + 1)}`,
    );
  }
  if (input.group !== undefined) {
    const { groupLabel } = await getSavingsPolicy(prisma, orgId);
    conditions.push(sql`h.labels ->> ${groupLabel} = ${input.group}`);
  }
  const column = input.sort === 'monthlyCost' ? sql`o.monthly_cost` : sql`o.reclaimable_bytes`;
  const direction = input.direction === 'asc' ? sql`ASC` : sql`DESC`;
  // Lists read the stored top objects; a caller wanting more (one host's page) reads them all.
  const objects = maxObjects > LIST_OBJECTS ? sql`o.objects` : sql`o.top_objects`;
  const rows = await prisma.$queryRaw<OpportunityRow[]>`
    SELECT o.host_id, h.hostname, o.kind, o.title, o.reclaimable_bytes, o.monthly_cost, o.risk, o.confidence,
           o.explanation, o.caveats, o.action, o.default_selected, o.computed_at, o.object_count,
           i.log_growth_bytes_per_day, ${objects} AS objects
    FROM host_opportunities o
    JOIN hosts h ON h.org_id = o.org_id AND h.id = o.host_id
    LEFT JOIN host_inventories i ON i.org_id = o.org_id AND i.host_id = o.host_id
    WHERE ${join(conditions, ' AND ')}
    ORDER BY ${column} ${direction}, o.host_id ASC, o.kind ASC
    LIMIT ${input.limit}`;
  for (const row of rows) {
    if (Array.isArray(row.objects) && row.objects.length > maxObjects) row.objects = row.objects.slice(0, maxObjects);
  }
  return rows.map(toOpportunity);
}

export const ZOpportunitySummaryInput = z.object({
  by: z.enum(['kind', 'group', 'host', 'image']).default('kind'),
  kind: z.enum(OPPORTUNITY_KINDS).optional(),
  risk: z.enum(['low', 'medium', 'high']).optional(),
  limit: z.number().int().min(1).max(500).default(50),
});

export interface OpportunitySummaryRow {
  /** The kind, group (null: hosts without the group label), host ID or image ID. */
  key: string | null;
  /** Hostname for `host`, first tag (or ID) for `image`. */
  label: string | null;
  hosts: number;
  opportunities: number;
  reclaimableBytes: number;
  monthlyCost: number;
}

/**
 * The fleet's opportunities added up by kind, host group, host or image, most money first.
 * By image: each image's own (exclusive) bytes in the image opportunities of every host,
 * priced at that host's rate; an image removed together with others can free more than its
 * own bytes (layers shared only within the set), which the per-host figures include.
 */
export async function summarizeOpportunities(
  prisma: DbClient,
  orgId: string,
  input: z.infer<typeof ZOpportunitySummaryInput>,
): Promise<OpportunitySummaryRow[]> {
  const { groupLabel } = await getSavingsPolicy(prisma, orgId);
  const conditions = [sql`o.org_id = ${orgId}`];
  if (input.kind) conditions.push(sql`o.kind = ${input.kind}`);
  if (input.risk) conditions.push(sql`o.risk = ${input.risk}`);
  // Money per group or host is what jobs can reclaim there: advice (duplicate content) is left out.
  if (input.by === 'group' || input.by === 'host') {
    conditions.push(sql`NOT (o.kind = ANY(${[...ADVICE_KINDS]}::text[]))`);
  }
  const where = join(conditions, ' AND ');
  type Row = {
    key: string | null;
    label: string | null;
    hosts: number;
    opportunities: number;
    reclaimable_bytes: bigint | null;
    monthly_cost: number | null;
  };
  let rows: Row[];
  if (input.by === 'image') {
    rows = await prisma.$queryRaw<Row[]>`
      SELECT obj->>'id' AS key, min(obj->>'name') AS label, count(DISTINCT o.host_id)::int AS hosts,
             count(*)::int AS opportunities, sum((obj->>'bytes')::bigint)::bigint AS reclaimable_bytes,
             sum(CASE WHEN o.reclaimable_bytes > 0
                      THEN o.monthly_cost * (obj->>'bytes')::float8 / o.reclaimable_bytes::float8 ELSE 0 END) AS monthly_cost
      FROM host_opportunities o
      CROSS JOIN LATERAL jsonb_array_elements(o.objects) AS obj
      WHERE ${where} AND o.kind IN ('images.dangling', 'images.unused')
      GROUP BY obj->>'id'
      ORDER BY monthly_cost DESC, key
      LIMIT ${input.limit}`;
  } else {
    const key =
      input.by === 'kind' ? sql`o.kind` : input.by === 'host' ? sql`o.host_id` : sql`h.labels ->> ${groupLabel}`;
    const label = input.by === 'host' ? sql`min(h.hostname)` : sql`NULL::text`;
    rows = await prisma.$queryRaw<Row[]>`
      SELECT ${key} AS key, ${label} AS label, count(DISTINCT o.host_id)::int AS hosts, count(*)::int AS opportunities,
             sum(o.reclaimable_bytes)::bigint AS reclaimable_bytes, sum(o.monthly_cost) AS monthly_cost
      FROM host_opportunities o
      JOIN hosts h ON h.org_id = o.org_id AND h.id = o.host_id
      WHERE ${where}
      GROUP BY 1
      ORDER BY monthly_cost DESC, key
      LIMIT ${input.limit}`;
  }
  return rows.map((row) => ({
    key: row.key,
    label: row.label,
    hosts: row.hosts,
    opportunities: row.opportunities,
    reclaimableBytes: num(row.reclaimable_bytes),
    monthlyCost: row.monthly_cost ?? 0,
  }));
}

export const ZImageFleetInput = z
  .object({
    /** An image ID, or part of a tag. */
    search: z.string().min(1).max(256).optional(),
    limit: z.number().int().min(1).max(500).default(100),
  })
  .default({ limit: 100 });

export interface FleetImage {
  imageId: string;
  tags: string[];
  hostCount: number;
  totalBytes: number;
  exclusiveBytes: number;
  runningOn: string[];
}

/** Images across the fleet, grouped by image ID, straight from the stored inventory documents. */
export async function imagesAcrossFleet(
  prisma: DbClient,
  orgId: string,
  input: z.infer<typeof ZImageFleetInput>,
): Promise<FleetImage[]> {
  const search = input.search ?? null;
  const rows = await prisma.$queryRaw<
    {
      image_id: string;
      tags: string[];
      host_count: number;
      total_bytes: bigint;
      exclusive_bytes: bigint;
      running_on: string[];
    }[]
  >`
    WITH images AS (
      SELECT i.host_id, h.hostname, img->>'id' AS image_id, img->'repoTags' AS tags,
             (img->>'sizeBytes')::bigint AS size_bytes, (img->>'exclusiveBytes')::bigint AS exclusive_bytes
      FROM host_inventories i
      JOIN hosts h ON h.org_id = i.org_id AND h.id = i.host_id
      JOIN host_inventory_entities e ON e.org_id = i.org_id AND e.host_id = i.host_id AND e.list = 'images'
      CROSS JOIN LATERAL (SELECT e.data AS img) AS item
      WHERE i.org_id = ${orgId}
    ),
    running AS (
      SELECT DISTINCT e.host_id, e.data->>'imageId' AS image_id
      FROM host_inventory_entities e
      WHERE e.org_id = ${orgId} AND e.list = 'containers' AND e.data->>'state' = 'running'
    ),
    tags AS (
      SELECT image_id, array_agg(DISTINCT tag ORDER BY tag) AS tags
      FROM images CROSS JOIN LATERAL jsonb_array_elements_text(images.tags) AS tag
      GROUP BY image_id
    ),
    matching AS (
      SELECT DISTINCT image_id FROM images
      WHERE ${search}::text IS NULL OR image_id = ${search} OR image_id LIKE 'sha256:' || ${search} || '%'
         OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(images.tags) AS t WHERE strpos(t, ${search}) > 0)
    )
    SELECT im.image_id, coalesce(tg.tags, '{}') AS tags, count(*)::int AS host_count,
           sum(im.size_bytes)::bigint AS total_bytes, sum(im.exclusive_bytes)::bigint AS exclusive_bytes,
           coalesce(array_agg(im.hostname ORDER BY im.hostname) FILTER (WHERE r.host_id IS NOT NULL), '{}') AS running_on
    FROM images im
    JOIN matching USING (image_id)
    LEFT JOIN running r ON r.host_id = im.host_id AND r.image_id = im.image_id
    LEFT JOIN tags tg ON tg.image_id = im.image_id
    GROUP BY im.image_id, tg.tags
    ORDER BY total_bytes DESC, im.image_id
    LIMIT ${input.limit}`;
  return rows.map((row) => ({
    imageId: row.image_id,
    tags: row.tags,
    hostCount: row.host_count,
    totalBytes: num(row.total_bytes),
    exclusiveBytes: num(row.exclusive_bytes),
    runningOn: row.running_on,
  }));
}
