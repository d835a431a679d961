-- AlterTable
ALTER TABLE "host_inventories" ADD COLUMN     "opportunities_at" TIMESTAMPTZ(3);
