import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

// Not `new URL('../prisma/migrations', import.meta.url)`: bundlers rewrite that pattern into an asset import.
export const defaultMigrationsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'prisma', 'migrations');

// The key Prisma's schema engine locks in `migrate deploy`/`migrate dev`, so this tool and
// Prisma's own exclude each other.
const PRISMA_MIGRATE_LOCK_KEY = 72707369;

// Verbatim from Prisma's schema engine (PostgreSQL flavour), so `prisma migrate deploy`
// accepts the history this tool records.
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
);
`;

export type Log = (message: string) => void;

export interface MigrateOptions {
  log?: Log;
  /** Folder of `<timestamp>_<name>/migration.sql` folders; defaults to this package's. */
  migrationsDir?: string;
}

export interface MigrateResult {
  /** Names of the migrations this call applied, in order. */
  applied: string[];
}

export interface LocalMigration {
  name: string;
  sql: string;
  checksum: string;
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

export function migrationChecksum(sql: string): string {
  return createHash('sha256').update(sql, 'utf8').digest('hex');
}

// Prisma accepts a checksum computed with either line ending, because git may rewrite them.
function checksumMatches(sql: string, checksum: string): boolean {
  const lf = sql.replaceAll('\r\n', '\n');
  return [sql, lf, lf.replaceAll('\n', '\r\n')].some((variant) => migrationChecksum(variant) === checksum);
}

/** Migrations on disk, in the order Prisma applies them (folder name). */
export async function listMigrations(migrationsDir: string = defaultMigrationsDir): Promise<LocalMigration[]> {
  const entries = await readdir(migrationsDir, { withFileTypes: true }).catch((error: unknown) => {
    throw new MigrationError(`Cannot read the migrations folder ${migrationsDir}`, { cause: error });
  });
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort((a, b) => a.localeCompare(b));
  const migrations: LocalMigration[] = [];
  for (const name of names) {
    const sql = await readFile(join(migrationsDir, name, 'migration.sql'), 'utf8').catch((error: unknown) => {
      throw new MigrationError(`Migration folder ${name} has no readable migration.sql`, { cause: error });
    });
    migrations.push({ name, sql, checksum: migrationChecksum(sql) });
  }
  return migrations;
}

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

// Clients of the embedded database share one backend session, so an advisory lock there is
// re-entrant and excludes nothing; calls in one process are serialized here as well.
const inProcessQueues = new Map<string, Promise<unknown>>();

/**
 * Applies the pending migrations, each in its own transaction, and records them in
 * `_prisma_migrations` exactly as `prisma migrate deploy` would. Refuses to run when an applied
 * migration was edited afterwards or a migration failed half-way under Prisma's own tool.
 */
export async function migrate(connectionString: string, options: MigrateOptions = {}): Promise<MigrateResult> {
  const previous = inProcessQueues.get(connectionString) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => migrateExclusively(connectionString, options));
  inProcessQueues.set(connectionString, run);
  try {
    return await run;
  } finally {
    if (inProcessQueues.get(connectionString) === run) inProcessQueues.delete(connectionString);
  }
}

async function migrateExclusively(connectionString: string, options: MigrateOptions): Promise<MigrateResult> {
  const log = options.log ?? (() => {});
  const local = await listMigrations(options.migrationsDir ?? defaultMigrationsDir);
  const client = new pg.Client({ connectionString, application_name: 'ballast-migrate' });
  // A dropped connection also rejects the query in flight, which reports it; without a
  // listener the client's 'error' event would crash the process instead.
  client.on('error', () => {});
  await client.connect();
  try {
    const { rows: lockRows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [
      PRISMA_MIGRATE_LOCK_KEY,
    ]);
    if (!lockRows[0]?.locked) {
      log('Waiting for another migration run to finish');
      await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK_KEY]);
    }
    try {
      return await applyPending(client, local, log);
    } finally {
      // Ending the session releases the lock too, so a failure here must not mask the real error.
      await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK_KEY]).catch(() => {});
    }
  } finally {
    await client.end().catch(() => {});
  }
}

async function applyPending(client: pg.Client, local: LocalMigration[], log: Log): Promise<MigrateResult> {
  const { rows: tableRows } = await client.query<{ exists: boolean }>(
    "SELECT to_regclass('_prisma_migrations') IS NOT NULL AS exists",
  );
  if (!tableRows[0]?.exists) await client.query(CREATE_MIGRATIONS_TABLE);

  const { rows } = await client.query<AppliedRow>(
    'SELECT migration_name, checksum, finished_at, rolled_back_at FROM _prisma_migrations ORDER BY started_at',
  );
  const failed = rows.filter((row) => row.finished_at === null && row.rolled_back_at === null);
  if (failed.length > 0) {
    const names = failed.map((row) => row.migration_name).join(', ');
    throw new MigrationError(
      `Migration(s) ${names} failed earlier and may be partly applied. Repair the database by hand, then mark ` +
        'them resolved (UPDATE _prisma_migrations SET rolled_back_at = now() WHERE ...) before migrating again.',
    );
  }

  const applied = new Map<string, string>();
  for (const row of rows) {
    if (row.finished_at !== null && row.rolled_back_at === null) applied.set(row.migration_name, row.checksum);
  }
  const edited = local.filter((m) => {
    const checksum = applied.get(m.name);
    return checksum !== undefined && !checksumMatches(m.sql, checksum);
  });
  if (edited.length > 0) {
    throw new MigrationError(
      `Migration(s) ${edited.map((m) => m.name).join(', ')} were edited after being applied to this database ` +
        '(checksum mismatch). Restore the original migration.sql and put the change in a new migration.',
    );
  }
  const localNames = new Set(local.map((m) => m.name));
  const unknown = [...applied.keys()].filter((name) => !localNames.has(name));
  if (unknown.length > 0) {
    log(`Applied to the database but missing locally (is this build older?): ${unknown.join(', ')}`);
  }

  const pending = local.filter((m) => !applied.has(m.name));
  if (pending.length === 0) {
    log('Database schema is up to date');
    return { applied: [] };
  }
  for (const migration of pending) {
    log(`Applying migration ${migration.name}`);
    await applyOne(client, migration);
  }
  log(`Applied ${pending.length} migration(s)`);
  return { applied: pending.map((m) => m.name) };
}

async function applyOne(client: pg.Client, migration: LocalMigration): Promise<void> {
  const id = randomUUID();
  await client.query('BEGIN');
  try {
    await client.query(
      `INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, applied_steps_count)
       VALUES ($1, $2, $3, clock_timestamp(), 0)`,
      [id, migration.checksum, migration.name],
    );
    // No parameters: the simple query protocol runs the whole multi-statement script.
    await client.query(migration.sql);
    await client.query(
      'UPDATE _prisma_migrations SET finished_at = clock_timestamp(), applied_steps_count = 1 WHERE id = $1',
      [id],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    const reason = error instanceof Error ? error.message : String(error);
    throw new MigrationError(`Migration ${migration.name} failed and was rolled back: ${reason}`, { cause: error });
  }
}
