-- AlterTable
ALTER TABLE "host_inventories" ADD COLUMN     "full_at" TIMESTAMPTZ(3),
ADD COLUMN     "growth_bytes_per_day" DOUBLE PRECISION,
ADD COLUMN     "log_growth_bytes_per_day" DOUBLE PRECISION,
ADD COLUMN     "reclaimable_bytes" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "reclaimable_monthly_cost" DOUBLE PRECISION NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "host_opportunities" ADD COLUMN     "object_count" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "top_objects" JSONB NOT NULL DEFAULT '[]';

-- CreateTable
CREATE TABLE "fleet_usage_daily" (
    "org_id" TEXT NOT NULL,
    "day" TIMESTAMPTZ(3) NOT NULL,
    "hosts" INTEGER NOT NULL,
    "images_bytes" BIGINT NOT NULL,
    "containers_bytes" BIGINT NOT NULL,
    "container_logs_bytes" BIGINT NOT NULL,
    "volumes_bytes" BIGINT NOT NULL,
    "build_cache_bytes" BIGINT NOT NULL,
    "fs_size_bytes" BIGINT,
    "fs_used_bytes" BIGINT,
    "computed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "fleet_usage_daily_pkey" PRIMARY KEY ("org_id","day")
);

-- CreateIndex
CREATE INDEX "host_inventories_org_id_full_at_idx" ON "host_inventories"("org_id", "full_at");

-- CreateIndex
CREATE INDEX "host_opportunities_org_id_kind_monthly_cost_idx" ON "host_opportunities"("org_id", "kind", "monthly_cost" DESC);

-- AddForeignKey
ALTER TABLE "fleet_usage_daily" ADD CONSTRAINT "fleet_usage_daily_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;
