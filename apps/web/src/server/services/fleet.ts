import type { DbClient, Prisma } from '@ballast/db';
import { OPPORTUNITY_KINDS } from '@ballast/shared/savings/kinds';
import { z } from 'zod';

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

const opportunitySelect = {
  hostId: true,
  kind: true,
  title: true,
  reclaimableBytes: true,
  monthlyCost: true,
  risk: true,
  confidence: true,
  explanation: true,
  caveats: true,
  objects: true,
  action: true,
  defaultSelected: true,
  computedAt: true,
  host: { select: { hostname: true, labels: true } },
} as const;

type OpportunityRow = Awaited<ReturnType<typeof fetchOpportunities>>[number];
const fetchOpportunities = (
  prisma: DbClient,
  args: {
    where: Prisma.HostOpportunityWhereInput;
    orderBy: Prisma.HostOpportunityOrderByWithRelationInput[];
    take: number;
  },
) => prisma.hostOpportunity.findMany({ ...args, select: opportunitySelect });

function toOpportunity(row: OpportunityRow) {
  const { host, reclaimableBytes, ...rest } = row;
  return {
    ...rest,
    reclaimableBytes: Number(reclaimableBytes),
    hostname: host.hostname,
    caveats: z.array(z.string()).catch([]).parse(rest.caveats),
    objects: z
      .array(z.object({ id: z.string(), name: z.string(), bytes: z.number(), note: z.string().optional() }))
      .catch([])
      .parse(rest.objects),
  };
}
export type StoredOpportunity = ReturnType<typeof toOpportunity>;

/** The fleet's totals, trend, top opportunities and the hosts nearest to a full disk. */
export async function fleetOverview(prisma: DbClient, orgId: string, now = new Date()) {
  const since = new Date(now.getTime() - 30 * DAY_MS);
  const forecastSince = new Date(now.getTime() - FORECAST_WINDOW_DAYS * DAY_MS);
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
    prisma.hostOpportunity.aggregate({ where: { orgId }, _sum: { reclaimableBytes: true, monthlyCost: true } }),
    // Each host's last reading of each day, summed per day across hosts.
    prisma.$queryRaw<{ day: Date; used_bytes: bigint | null; docker_bytes: bigint; hosts: number }[]>`
      SELECT day, sum(fs_used_bytes)::bigint AS used_bytes, sum(docker_bytes)::bigint AS docker_bytes,
             count(*)::int AS hosts
      FROM (
        SELECT DISTINCT ON (host_id, date_trunc('day', hour, 'UTC'))
               date_trunc('day', hour, 'UTC') AS day, fs_used_bytes,
               images_bytes + containers_bytes + container_logs_bytes + volumes_bytes + build_cache_bytes AS docker_bytes
        FROM host_usage_hourly
        WHERE org_id = ${orgId} AND hour >= ${since}
        ORDER BY host_id, date_trunc('day', hour, 'UTC'), hour DESC
      ) AS daily
      GROUP BY day
      ORDER BY day`,
    fetchOpportunities(prisma, { where: { orgId }, orderBy: [{ monthlyCost: 'desc' }, { hostId: 'asc' }], take: 10 }),
    nearestToFull(prisma, orgId, forecastSince, 5, now),
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
    monthlyCost: reclaimable._sum.monthlyCost ?? 0,
    trend: trend.map(
      (row): FleetTrendPoint => ({
        day: row.day,
        usedBytes: num(row.used_bytes),
        dockerBytes: num(row.docker_bytes),
        hosts: row.hosts,
      }),
    ),
    topOpportunities: top.map(toOpportunity),
    nearestToFull: nearFull,
  };
}

/**
 * Hosts ranked by days until the disk is full, by the least-squares slope of used bytes over
 * the window (regr_slope, the same fit as forecastDiskFull), computed in the database.
 */
async function nearestToFull(
  prisma: DbClient,
  orgId: string,
  since: Date,
  limit: number,
  now: Date,
): Promise<HostNearFull[]> {
  const rows = await prisma.$queryRaw<
    { host_id: string; hostname: string; size_bytes: bigint; used_bytes: bigint; slope_per_day: number }[]
  >`
    WITH fit AS (
      SELECT host_id, regr_slope(fs_used_bytes::float8, extract(epoch FROM hour)) * 86400 AS slope_per_day
      FROM host_usage_hourly
      WHERE org_id = ${orgId} AND hour >= ${since} AND fs_used_bytes IS NOT NULL
      GROUP BY host_id
      HAVING count(*) >= 2
    )
    SELECT h.id AS host_id, h.hostname, i.fs_size_bytes AS size_bytes, i.fs_used_bytes AS used_bytes, fit.slope_per_day
    FROM fit
    JOIN hosts h ON h.org_id = ${orgId} AND h.id = fit.host_id
    JOIN host_inventories i ON i.org_id = ${orgId} AND i.host_id = fit.host_id
    WHERE fit.slope_per_day > 0 AND i.fs_size_bytes IS NOT NULL AND i.fs_used_bytes IS NOT NULL
    ORDER BY greatest(i.fs_size_bytes - i.fs_used_bytes, 0) / fit.slope_per_day ASC, h.hostname
    LIMIT ${limit}`;
  return rows.map((row) => {
    const daysUntilFull = Math.max(0, (num(row.size_bytes) - num(row.used_bytes)) / row.slope_per_day);
    return {
      hostId: row.host_id,
      hostname: row.hostname,
      sizeBytes: num(row.size_bytes),
      usedBytes: num(row.used_bytes),
      growthBytesPerDay: row.slope_per_day,
      daysUntilFull,
      fullAt: new Date(now.getTime() + daysUntilFull * DAY_MS),
    };
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
  limit: z.number().int().min(1).max(500).default(200),
});
export type OpportunityListInput = z.infer<typeof ZOpportunityListInput>;

export async function listOpportunities(prisma: DbClient, orgId: string, input: OpportunityListInput) {
  const eq = input.hostLabel?.indexOf('=') ?? -1;
  const labelFilter =
    input.hostLabel === undefined
      ? undefined
      : eq === -1
        ? { labels: { path: [input.hostLabel], not: 'null' as const } }
        : { labels: { path: [input.hostLabel.slice(0, eq)], equals: input.hostLabel.slice(eq + 1) } };
  const rows = await fetchOpportunities(prisma, {
    where: {
      orgId,
      ...(input.kind && { kind: input.kind }),
      ...(input.risk && { risk: input.risk }),
      ...(input.hostId && { hostId: input.hostId }),
      ...(labelFilter && { host: labelFilter }),
    },
    orderBy: [{ [input.sort]: input.direction }, { hostId: 'asc' }, { kind: 'asc' }],
    take: input.limit,
  });
  return rows.map(toOpportunity);
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
      CROSS JOIN LATERAL jsonb_array_elements(i.inventory->'images') AS img
      WHERE i.org_id = ${orgId}
    ),
    running AS (
      SELECT DISTINCT i.host_id, c->>'imageId' AS image_id
      FROM host_inventories i
      CROSS JOIN LATERAL jsonb_array_elements(i.inventory->'containers') AS c
      WHERE i.org_id = ${orgId} AND c->>'state' = 'running'
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
