-- CreateTable
CREATE TABLE "host_opportunities" (
    "org_id" TEXT NOT NULL,
    "host_id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "reclaimable_bytes" BIGINT NOT NULL,
    "monthly_cost" DOUBLE PRECISION NOT NULL,
    "risk" TEXT NOT NULL,
    "confidence" TEXT NOT NULL,
    "explanation" TEXT NOT NULL,
    "caveats" JSONB NOT NULL,
    "objects" JSONB NOT NULL,
    "action" JSONB,
    "default_selected" BOOLEAN NOT NULL,
    "computed_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "host_opportunities_pkey" PRIMARY KEY ("org_id","host_id","kind")
);

-- CreateTable
CREATE TABLE "savings_policies" (
    "org_id" TEXT NOT NULL,
    "policy" JSONB NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "savings_policies_pkey" PRIMARY KEY ("org_id")
);

-- CreateIndex
CREATE INDEX "host_opportunities_org_id_monthly_cost_idx" ON "host_opportunities"("org_id", "monthly_cost" DESC);

-- AddForeignKey
ALTER TABLE "host_opportunities" ADD CONSTRAINT "host_opportunities_org_id_host_id_fkey" FOREIGN KEY ("org_id", "host_id") REFERENCES "hosts"("org_id", "id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "savings_policies" ADD CONSTRAINT "savings_policies_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;
