import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPrismaDir } from './diff.js';
import { defaultMigrationsDir, listMigrations, migrate } from './migrate.js';
import { type MigrationList, openSchemaEngine, type WasmSchemaEngine } from './schema-engine.js';

const filters = { externalTables: [], externalEnums: [] };

async function migrationList(): Promise<MigrationList> {
  const lockfile = await readFile(join(defaultMigrationsDir, 'migration_lock.toml'), 'utf8');
  return {
    baseDir: defaultMigrationsDir,
    lockfile: { path: 'migration_lock.toml', content: lockfile },
    shadowDbInitScript: '',
    migrationDirectories: (await listMigrations()).map((m) => ({
      path: m.name,
      migrationFile: { path: 'migration.sql', content: { tag: 'ok', value: m.sql } },
    })),
  };
}

// Prisma's schema engine, compiled to WebAssembly, is the code behind `prisma migrate deploy`:
// it must read the history `migrate` records as its own, and the other way round.
describe("the history migrate records, as Prisma's own migration engine sees it", () => {
  let db: PGlite;
  let server: PGLiteSocketServer;
  let url: string;
  let engine: WasmSchemaEngine;
  let migrations: MigrationList;
  let names: string[];

  beforeAll(async () => {
    db = await PGlite.create();
    server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 4 });
    await server.start();
    url = `postgresql://postgres@${server.getServerConn()}/postgres`;
    engine = await openSchemaEngine(await readFile(join(defaultPrismaDir, 'schema.prisma'), 'utf8'), db);
    migrations = await migrationList();
    names = migrations.migrationDirectories.map((m) => m.path);
  });
  afterAll(async () => {
    engine?.free();
    await server?.stop();
    await db?.close();
  });

  async function resetDatabase() {
    await db.exec('DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
  }

  it('is accepted by Prisma: nothing edited, failed or pending', async () => {
    await resetDatabase();
    expect((await migrate(url)).applied).toEqual(names);
    expect(
      await engine.diagnoseMigrationHistory({ migrationsList: migrations, optInToShadowDatabase: false, filters }),
    ).toEqual({ editedMigrationNames: [], failedMigrationNames: [], hasMigrationsTable: true, history: null });
    expect((await engine.applyMigrations({ migrationsList: migrations, filters })).appliedMigrationNames).toEqual([]);
  });

  it("reads Prisma's history as its own", async () => {
    await resetDatabase();
    expect((await engine.applyMigrations({ migrationsList: migrations, filters })).appliedMigrationNames).toEqual(
      names,
    );
    expect((await migrate(url)).applied).toEqual([]);
  });
});
