-- AlterTable
ALTER TABLE "organizations" ADD COLUMN     "auto_approve_job_kinds" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- AlterTable
ALTER TABLE "hosts" ADD COLUMN     "capabilities" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- CreateTable
CREATE TABLE "campaigns" (
    "org_id" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "params" JSONB NOT NULL,
    "requested_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "campaigns_pkey" PRIMARY KEY ("org_id","id")
);

-- CreateTable
CREATE TABLE "jobs" (
    "org_id" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "host_id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "params" JSONB NOT NULL,
    "state" TEXT NOT NULL,
    "plan" JSONB,
    "plan_digest" TEXT,
    "planned_bytes" BIGINT,
    "result" JSONB,
    "bytes_freed" BIGINT,
    "engine_reported_bytes" BIGINT,
    "free_bytes_before" BIGINT,
    "free_bytes_after" BIGINT,
    "requested_by" TEXT NOT NULL,
    "requested_by_user_id" TEXT,
    "approved_by" TEXT,
    "campaign_id" TEXT,
    "opportunity_kind" TEXT,
    "deadline" TIMESTAMPTZ(3) NOT NULL,
    "last_delivered_at" TIMESTAMPTZ(3),
    "deliveries" INTEGER NOT NULL DEFAULT 0,
    "progress_done" INTEGER NOT NULL DEFAULT 0,
    "progress_total" INTEGER,
    "error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "planned_at" TIMESTAMPTZ(3),
    "approved_at" TIMESTAMPTZ(3),
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "jobs_pkey" PRIMARY KEY ("org_id","id")
);

-- CreateIndex
CREATE INDEX "campaigns_org_id_created_at_idx" ON "campaigns"("org_id", "created_at" DESC);

-- CreateIndex
CREATE INDEX "jobs_org_id_created_at_idx" ON "jobs"("org_id", "created_at" DESC);

-- CreateIndex
CREATE INDEX "jobs_org_id_host_id_created_at_idx" ON "jobs"("org_id", "host_id", "created_at" DESC);

-- CreateIndex
CREATE INDEX "jobs_org_id_campaign_id_idx" ON "jobs"("org_id", "campaign_id");

-- CreateIndex
CREATE INDEX "jobs_unfinished_idx" ON "jobs"("org_id", "host_id", "state") WHERE (state IN ('requested', 'planning', 'planned', 'approved', 'running', 'unknown'));

-- AddForeignKey
ALTER TABLE "campaigns" ADD CONSTRAINT "campaigns_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_org_id_host_id_fkey" FOREIGN KEY ("org_id", "host_id") REFERENCES "hosts"("org_id", "id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_org_id_campaign_id_fkey" FOREIGN KEY ("org_id", "campaign_id") REFERENCES "campaigns"("org_id", "id") ON DELETE NO ACTION ON UPDATE CASCADE;
