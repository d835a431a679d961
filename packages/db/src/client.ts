import { PrismaPg } from '@prisma/adapter-pg';
import { Prisma, PrismaClient } from './generated/prisma/client.js';

export interface CreatePrismaClientOptions {
  /** Pool size; use 1 against the embedded database. Default 10. */
  max?: number;
}

export class UnfilteredBulkWriteError extends Error {
  override name = 'UnfilteredBulkWriteError';
}

// Prisma drops `undefined` filter values, so `deleteMany({ where: { orgId: maybeUndefined } })`
// silently becomes "delete every row of every tenant". A bulk write must name at least one
// condition; a deliberate whole-table write has to be spelled out in raw SQL.
function assertFiltered(model: string, operation: string, where: unknown): void {
  const filtered =
    typeof where === 'object' && where !== null && Object.values(where).some((value) => value !== undefined);
  if (!filtered) {
    throw new UnfilteredBulkWriteError(
      `${model}.${operation} needs a non-empty where: refusing to touch every row of the table`,
    );
  }
}

const bulkWriteGuard = Prisma.defineExtension({
  name: 'ballast-bulk-write-guard',
  query: {
    $allModels: {
      deleteMany({ model, operation, args, query }) {
        assertFiltered(model, operation, args?.where);
        return query(args);
      },
      updateMany({ model, operation, args, query }) {
        assertFiltered(model, operation, args.where);
        return query(args);
      },
      updateManyAndReturn({ model, operation, args, query }) {
        assertFiltered(model, operation, args.where);
        return query(args);
      },
    },
  },
});

export function createPrismaClient(connectionString: string, options: CreatePrismaClientOptions = {}) {
  const adapter = new PrismaPg({ connectionString, max: options.max ?? 10 });
  return new PrismaClient({ adapter }).$extends(bulkWriteGuard);
}

export type DbClient = ReturnType<typeof createPrismaClient>;
/** The client inside `db.$transaction(async (tx) => …)`. */
export type DbTransaction = Parameters<Parameters<DbClient['$transaction']>[0]>[0];
