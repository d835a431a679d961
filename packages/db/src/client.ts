import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
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

const pools = new WeakMap<object, pg.Pool>();

export function createPrismaClient(connectionString: string, options: CreatePrismaClientOptions = {}) {
  const pool = new pg.Pool({ connectionString, max: options.max ?? 10 });
  const adapter = new PrismaPg(pool, { disposeExternalPool: true });
  const client = new PrismaClient({ adapter }).$extends(bulkWriteGuard);
  pools.set(client, pool);
  return client;
}

export type DbClient = ReturnType<typeof createPrismaClient>;

/**
 * The connection pool behind a client (shared with it, so the embedded database's single
 * connection is never exceeded). For the ingest path, which sends documents of half a megabyte:
 * Prisma passes raw parameters through a JSON encoding of their own, which cost a third of the
 * server's CPU in the ingest bench. Never hold one of its connections while awaiting Prisma.
 */
export function poolOf(client: DbClient): pg.Pool {
  const pool = pools.get(client);
  if (!pool) throw new Error('this client was not created by createPrismaClient');
  return pool;
}
/** The client inside `db.$transaction(async (tx) => …)`. */
export type DbTransaction = Parameters<Parameters<DbClient['$transaction']>[0]>[0];
