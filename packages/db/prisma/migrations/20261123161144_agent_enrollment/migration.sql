-- DropIndex
DROP INDEX "hosts_org_id_machine_id_key";

-- AlterTable
ALTER TABLE "hosts" ADD COLUMN     "clone_of" TEXT;

-- CreateTable
CREATE TABLE "enrollment_tokens" (
    "org_id" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "token_hash" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "max_uses" INTEGER NOT NULL,
    "uses" INTEGER NOT NULL DEFAULT 0,
    "revoked_at" TIMESTAMPTZ(3),
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "enrollment_tokens_pkey" PRIMARY KEY ("org_id","id")
);

-- CreateTable
CREATE TABLE "agent_credentials" (
    "org_id" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "host_id" TEXT NOT NULL,
    "credential_hash" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMPTZ(3),
    "last_used_at" TIMESTAMPTZ(3),

    CONSTRAINT "agent_credentials_pkey" PRIMARY KEY ("org_id","id")
);

-- CreateIndex
CREATE UNIQUE INDEX "enrollment_tokens_org_id_token_hash_key" ON "enrollment_tokens"("org_id", "token_hash");

-- CreateIndex
CREATE INDEX "agent_credentials_org_id_host_id_idx" ON "agent_credentials"("org_id", "host_id");

-- CreateIndex
CREATE UNIQUE INDEX "agent_credentials_org_id_credential_hash_key" ON "agent_credentials"("org_id", "credential_hash");

-- CreateIndex
CREATE INDEX "hosts_org_id_machine_id_idx" ON "hosts"("org_id", "machine_id");

-- AddForeignKey
ALTER TABLE "enrollment_tokens" ADD CONSTRAINT "enrollment_tokens_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "agent_credentials" ADD CONSTRAINT "agent_credentials_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "agent_credentials" ADD CONSTRAINT "agent_credentials_org_id_host_id_fkey" FOREIGN KEY ("org_id", "host_id") REFERENCES "hosts"("org_id", "id") ON DELETE CASCADE ON UPDATE CASCADE;
