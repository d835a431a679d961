-- AlterTable
ALTER TABLE "host_inventories" ADD COLUMN     "stream" TEXT;
