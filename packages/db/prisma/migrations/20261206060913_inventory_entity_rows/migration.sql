-- A host's inventory lists become one row per item, so a delta writes only the items it
-- changes instead of rebuilding whole lists.
-- CreateTable
CREATE TABLE "host_inventory_entities" (
    "org_id" TEXT NOT NULL,
    "host_id" TEXT NOT NULL,
    "list" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "pos" BIGINT NOT NULL,
    "data" JSONB NOT NULL,

    CONSTRAINT "host_inventory_entities_pkey" PRIMARY KEY ("org_id","host_id","list","key")
);

-- The stored lists move to rows, in their order; of two items with one key the later one stays,
-- as the delta applier keeps it.
INSERT INTO "host_inventory_entities" ("org_id", "host_id", "list", "key", "pos", "data")
SELECT DISTINCT ON (i."org_id", i."host_id", l."list", t.e->>l."key")
       i."org_id", i."host_id", l."list", t.e->>l."key", t.o, t.e
FROM "host_inventories" AS i
CROSS JOIN LATERAL (VALUES ('images', 'id', i."images"), ('layers', 'chainId', i."layers"),
                           ('containers', 'id', i."containers"), ('volumes', 'name', i."volumes")) AS l("list", "key", "doc")
CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(l."doc") = 'array' THEN l."doc" ELSE '[]' END) WITH ORDINALITY AS t(e, o)
WHERE t.e->>l."key" IS NOT NULL
ORDER BY i."org_id", i."host_id", l."list", t.e->>l."key", t.o DESC;

-- AlterTable
ALTER TABLE "host_inventories" DROP COLUMN "containers",
DROP COLUMN "images",
DROP COLUMN "layers",
DROP COLUMN "volumes";

-- AddForeignKey
ALTER TABLE "host_inventory_entities" ADD CONSTRAINT "host_inventory_entities_org_id_host_id_fkey" FOREIGN KEY ("org_id", "host_id") REFERENCES "host_inventories"("org_id", "host_id") ON DELETE CASCADE ON UPDATE CASCADE;
