-- A host's inventory keeps its four entity lists in their own columns, so a delta rewrites only
-- the lists it changes and never the whole document.
-- AlterTable
ALTER TABLE "host_inventories" ADD COLUMN     "containers" JSONB NOT NULL DEFAULT '[]',
ADD COLUMN     "images" JSONB NOT NULL DEFAULT '[]',
ADD COLUMN     "layers" JSONB NOT NULL DEFAULT '[]',
ADD COLUMN     "volumes" JSONB NOT NULL DEFAULT '[]';

UPDATE "host_inventories" SET
  "images" = coalesce("inventory"->'images', '[]'),
  "layers" = coalesce("inventory"->'layers', '[]'),
  "containers" = coalesce("inventory"->'containers', '[]'),
  "volumes" = coalesce("inventory"->'volumes', '[]'),
  "inventory" = "inventory" - ARRAY['images', 'layers', 'containers', 'volumes'];

DO $$
BEGIN
  ALTER TABLE "host_inventories" ALTER COLUMN "images" SET COMPRESSION lz4;
  ALTER TABLE "host_inventories" ALTER COLUMN "layers" SET COMPRESSION lz4;
  ALTER TABLE "host_inventories" ALTER COLUMN "containers" SET COMPRESSION lz4;
  ALTER TABLE "host_inventories" ALTER COLUMN "volumes" SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  RAISE NOTICE 'LZ4 is not available: large documents stay compressed with pglz';
END
$$;
