-- AlterTable
ALTER TABLE "host_inventories" ADD COLUMN     "stream" TEXT;

-- The large documents are rewritten at every agent reading: LZ4 compresses them several times
-- faster than the default pglz. A server built without LZ4 keeps pglz.
DO $$
BEGIN
  ALTER TABLE "host_inventories" ALTER COLUMN "inventory" SET COMPRESSION lz4;
  ALTER TABLE "host_opportunities" ALTER COLUMN "objects" SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  RAISE NOTICE 'LZ4 is not available: large documents stay compressed with pglz';
END
$$;
