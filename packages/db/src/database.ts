import { createPrismaClient, type DbClient } from './client.js';
import { type EmbeddedPostgres, startEmbeddedPostgres } from './embedded.js';
import { type Log, migrate } from './migrate.js';

export interface OpenDatabaseOptions {
  /** PostgreSQL to use; when unset, an embedded database is kept in dataDir. */
  databaseUrl?: string | undefined;
  dataDir: string;
  log?: Log;
  /** Overrides this package's migrations folder (e.g. when bundled elsewhere). */
  migrationsDir?: string;
}

export interface Database {
  prisma: DbClient;
  connectionString: string;
  embedded: boolean;
  close(): Promise<void>;
}

/** Connects (or starts the embedded database), applies pending migrations, returns a client. */
export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  const { databaseUrl, log } = options;
  let embedded: EmbeddedPostgres | undefined;
  let connectionString: string;
  if (databaseUrl) {
    connectionString = databaseUrl;
  } else {
    embedded = await startEmbeddedPostgres({ dataDir: options.dataDir, ...(log && { log }) });
    connectionString = embedded.connectionString;
  }
  try {
    await migrate(connectionString, {
      ...(log && { log }),
      ...(options.migrationsDir && { migrationsDir: options.migrationsDir }),
    });
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
  const prisma = createPrismaClient(connectionString, { max: embedded ? 1 : 10 });
  let closing: Promise<void> | undefined;
  return {
    prisma,
    connectionString,
    embedded: embedded !== undefined,
    close() {
      closing ??= (async () => {
        try {
          await prisma.$disconnect();
        } finally {
          await embedded?.stop();
        }
      })();
      return closing;
    },
  };
}
