-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "organizations" (
    "id" TEXT NOT NULL,
    "slug" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "organizations_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "hosts" (
    "org_id" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "machine_id" TEXT NOT NULL,
    "hostname" TEXT NOT NULL,
    "agent_version" TEXT,
    "engine_version" TEXT,
    "storage_driver" TEXT,
    "data_root" TEXT,
    "labels" JSONB NOT NULL DEFAULT '{}',
    "first_seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_snapshot_at" TIMESTAMPTZ(3),
    "connected" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "hosts_pkey" PRIMARY KEY ("org_id","id")
);

-- CreateTable
CREATE TABLE "host_inventories" (
    "org_id" TEXT NOT NULL,
    "host_id" TEXT NOT NULL,
    "collected_at" TIMESTAMPTZ(3) NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "seq" BIGINT,
    "images_bytes" BIGINT NOT NULL,
    "containers_bytes" BIGINT NOT NULL,
    "container_logs_bytes" BIGINT NOT NULL,
    "volumes_bytes" BIGINT NOT NULL,
    "build_cache_bytes" BIGINT NOT NULL,
    "unattributed_bytes" BIGINT,
    "fs_size_bytes" BIGINT,
    "fs_used_bytes" BIGINT,
    "fs_free_bytes" BIGINT,
    "image_count" INTEGER NOT NULL,
    "container_count" INTEGER NOT NULL,
    "volume_count" INTEGER NOT NULL,
    "inventory" JSONB NOT NULL,

    CONSTRAINT "host_inventories_pkey" PRIMARY KEY ("org_id","host_id")
);

-- CreateTable
CREATE TABLE "host_usage_hourly" (
    "org_id" TEXT NOT NULL,
    "host_id" TEXT NOT NULL,
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "images_bytes" BIGINT NOT NULL,
    "containers_bytes" BIGINT NOT NULL,
    "container_logs_bytes" BIGINT NOT NULL,
    "volumes_bytes" BIGINT NOT NULL,
    "build_cache_bytes" BIGINT NOT NULL,
    "unattributed_bytes" BIGINT,
    "fs_size_bytes" BIGINT,
    "fs_used_bytes" BIGINT,
    "fs_free_bytes" BIGINT,
    "samples" INTEGER NOT NULL,

    CONSTRAINT "host_usage_hourly_pkey" PRIMARY KEY ("org_id","host_id","hour")
);

-- CreateTable
CREATE TABLE "audit_events" (
    "org_id" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "target" TEXT,
    "details" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("org_id","id")
);

-- CreateIndex
CREATE UNIQUE INDEX "organizations_slug_key" ON "organizations"("slug");

-- CreateIndex
CREATE UNIQUE INDEX "hosts_org_id_machine_id_key" ON "hosts"("org_id", "machine_id");

-- CreateIndex
CREATE INDEX "audit_events_org_id_at_idx" ON "audit_events"("org_id", "at");

-- AddForeignKey
ALTER TABLE "hosts" ADD CONSTRAINT "hosts_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "host_inventories" ADD CONSTRAINT "host_inventories_org_id_host_id_fkey" FOREIGN KEY ("org_id", "host_id") REFERENCES "hosts"("org_id", "id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "host_usage_hourly" ADD CONSTRAINT "host_usage_hourly_org_id_host_id_fkey" FOREIGN KEY ("org_id", "host_id") REFERENCES "hosts"("org_id", "id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;
