import type { DbClient } from '@ballast/db';
import { z } from 'zod';

const num = (value: bigint | number | null | undefined): number =>
  value === null || value === undefined ? 0 : Number(value);

export const ZContentFleetInput = z
  .object({
    /** Only these content digests (the host page asks about its own duplicate layers). */
    contentDigests: z.array(z.string().min(1).max(80)).max(500).optional(),
    limit: z.number().int().min(1).max(500).default(50),
  })
  .default({ limit: 50 });

export interface FleetDuplicateLayer {
  contentDigest: string;
  /** Apparent bytes of one copy of the layer content. */
  bytes: number;
  /** Hosts where this content is stored under more than one layer ID. */
  hostCount: number;
  /** Σ over those hosts of (copies − 1) × bytes: what rebuilding on a shared base saves fleet-wide. */
  wastedBytes: number;
  /** Images using the duplicate layers, on any of those hosts. */
  images: string[];
}

/**
 * The same duplicate layer content across the fleet, from each host's latest inventory
 * (`duplicates.layers`), grouped by content digest in the database: "svc-4 repeats the 4 MiB
 * layer content of svc-3 on 37 hosts".
 */
export async function duplicateLayersAcrossFleet(
  prisma: DbClient,
  orgId: string,
  input: z.infer<typeof ZContentFleetInput>,
): Promise<FleetDuplicateLayer[]> {
  const digests = input.contentDigests ?? null;
  const rows = await prisma.$queryRaw<
    { content_digest: string; bytes: bigint; host_count: number; wasted_bytes: bigint; images: string[] }[]
  >`
    WITH groups AS (
      SELECT i.host_id, d->>'contentDigest' AS content_digest, (d->>'bytes')::bigint AS bytes,
             (d->>'wastedBytes')::bigint AS wasted_bytes, d->'chainIds' AS chain_ids
      FROM host_inventories i
      CROSS JOIN LATERAL jsonb_array_elements(coalesce(i.inventory->'duplicates'->'layers', '[]'::jsonb)) AS d
      WHERE i.org_id = ${orgId}
        AND (${digests}::text[] IS NULL OR d->>'contentDigest' = ANY(${digests}::text[]))
    ),
    names AS (
      SELECT g.content_digest, coalesce(img->'repoTags'->>0, substr(img->>'id', 8, 12) || ' (untagged)') AS name
      FROM groups g
      JOIN host_inventory_entities e ON e.org_id = ${orgId} AND e.host_id = g.host_id AND e.list = 'images'
      CROSS JOIN LATERAL (SELECT e.data AS img) AS item
      WHERE img->'chainIds' ?| ARRAY(SELECT jsonb_array_elements_text(g.chain_ids))
    )
    SELECT g.content_digest, max(g.bytes)::bigint AS bytes, count(DISTINCT g.host_id)::int AS host_count,
           sum(g.wasted_bytes)::bigint AS wasted_bytes,
           coalesce((SELECT array_agg(DISTINCT n.name ORDER BY n.name) FROM names n WHERE n.content_digest = g.content_digest), '{}') AS images
    FROM groups g
    GROUP BY g.content_digest
    ORDER BY wasted_bytes DESC, g.content_digest
    LIMIT ${input.limit}`;
  return rows.map((row) => ({
    contentDigest: row.content_digest,
    bytes: num(row.bytes),
    hostCount: row.host_count,
    wastedBytes: num(row.wasted_bytes),
    images: row.images,
  }));
}

export interface FleetImageWaste {
  imageId: string;
  /** A tag of the image on some host, or null when untagged everywhere. */
  name: string | null;
  /** Redundant bytes inside one copy of the image (the same on every host: layers are immutable). */
  wastedBytes: number;
  hostCount: number;
  /** wastedBytes × hosts storing the image. */
  fleetWastedBytes: number;
}

/** Per image ID, the waste the agents found inside it and on how many hosts it is stored. */
export async function imageWasteAcrossFleet(
  prisma: DbClient,
  orgId: string,
  imageIds: readonly string[] | null,
): Promise<FleetImageWaste[]> {
  const ids = imageIds ? [...imageIds] : null;
  const rows = await prisma.$queryRaw<
    { image_id: string; name: string | null; wasted_bytes: bigint; host_count: number; fleet_wasted_bytes: bigint }[]
  >`
    SELECT w->>'imageId' AS image_id,
           max((SELECT e.data->'repoTags'->>0 FROM host_inventory_entities e
                WHERE e.org_id = i.org_id AND e.host_id = i.host_id AND e.list = 'images' AND e.key = w->>'imageId')) AS name, max((w->>'wastedBytes')::bigint)::bigint AS wasted_bytes,
           count(DISTINCT i.host_id)::int AS host_count, sum((w->>'wastedBytes')::bigint)::bigint AS fleet_wasted_bytes
    FROM host_inventories i
    CROSS JOIN LATERAL jsonb_array_elements(coalesce(i.inventory->'waste', '[]'::jsonb)) AS w
    WHERE i.org_id = ${orgId} AND (${ids}::text[] IS NULL OR w->>'imageId' = ANY(${ids}::text[]))
    GROUP BY w->>'imageId'
    ORDER BY fleet_wasted_bytes DESC, image_id`;
  return rows.map((row) => ({
    imageId: row.image_id,
    name: row.name,
    wastedBytes: num(row.wasted_bytes),
    hostCount: row.host_count,
    fleetWastedBytes: num(row.fleet_wasted_bytes),
  }));
}
