import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultMigrationsDir, listMigrations, MigrationError, migrate } from './migrate.js';
import { createTestDatabase, type TestDatabase } from './test/pg.js';

interface MigrationRow {
  id: string;
  checksum: string;
  finished_at: Date | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | null;
  started_at: Date;
  applied_steps_count: number;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

const history = (url: string) =>
  query<MigrationRow>(url, 'SELECT * FROM _prisma_migrations ORDER BY started_at, migration_name');

async function migrationsDir(migrations: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ballast-migrations-'));
  for (const [name, sql] of Object.entries(migrations)) {
    await mkdir(join(dir, name));
    await writeFile(join(dir, name, 'migration.sql'), sql);
  }
  return dir;
}

describe('migrate', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(cleanup.splice(0).map((fn) => fn()));
  });
  async function database(): Promise<TestDatabase> {
    const db = await createTestDatabase();
    cleanup.push(db.drop);
    return db;
  }

  it('applies every migration once and records it as prisma migrate deploy does', async () => {
    const db = await database();
    const local = await listMigrations();
    expect(local.length).toBeGreaterThan(0);

    const first = await migrate(db.url);
    expect(first.applied).toEqual(local.map((m) => m.name));

    const columns = await query<{ column_name: string; data_type: string; is_nullable: string }>(
      db.url,
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns
       WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`,
    );
    expect(columns.map((c) => [c.column_name, c.data_type, c.is_nullable])).toEqual([
      ['id', 'character varying', 'NO'],
      ['checksum', 'character varying', 'NO'],
      ['finished_at', 'timestamp with time zone', 'YES'],
      ['migration_name', 'character varying', 'NO'],
      ['logs', 'text', 'YES'],
      ['rolled_back_at', 'timestamp with time zone', 'YES'],
      ['started_at', 'timestamp with time zone', 'NO'],
      ['applied_steps_count', 'integer', 'NO'],
    ]);

    const rows = await history(db.url);
    expect(rows.map((r) => r.migration_name)).toEqual(local.map((m) => m.name));
    for (const row of rows) {
      const sql = await readFile(join(defaultMigrationsDir, row.migration_name, 'migration.sql'));
      expect(row.checksum).toBe(createHash('sha256').update(sql).digest('hex'));
      expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.finished_at?.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime());
      expect(row.rolled_back_at).toBeNull();
      expect(row.logs).toBeNull();
      expect(row.applied_steps_count).toBe(1);
    }

    const second = await migrate(db.url);
    expect(second.applied).toEqual([]);
    expect(await history(db.url)).toEqual(rows);
  });

  it('refuses when an applied migration no longer matches its checksum', async () => {
    const db = await database();
    await migrate(db.url);
    const [first] = await listMigrations();
    await query(
      db.url,
      `UPDATE _prisma_migrations SET checksum = repeat('0', 64) WHERE migration_name = '${first?.name}'`,
    );
    await expect(migrate(db.url)).rejects.toThrow(MigrationError);
    await expect(migrate(db.url)).rejects.toThrow(new RegExp(`${first?.name}.*checksum mismatch`));
  });

  it('accepts a checksum computed with the other line ending, as Prisma does', async () => {
    const db = await database();
    const dir = await migrationsDir({ '20250101000000_a': 'CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n' });
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await migrate(db.url, { migrationsDir: dir });
    await writeFile(
      join(dir, '20250101000000_a', 'migration.sql'),
      'CREATE TABLE a (id int);\r\nCREATE TABLE b (id int);\r\n',
    );
    expect((await migrate(db.url, { migrationsDir: dir })).applied).toEqual([]);
  });

  it('serializes concurrent runs so each migration is applied once', async () => {
    const db = await database();
    const dir = await migrationsDir({
      '20250101000000_first': 'CREATE TABLE first (id int PRIMARY KEY);\nSELECT pg_sleep(1);\n',
      '20250102000000_second': 'CREATE TABLE second (id int PRIMARY KEY);\n',
    });
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const messages: string[] = [];
    const log = (message: string) => messages.push(message);
    // Separate connection strings, so only the database's advisory lock keeps them apart.
    const results = await Promise.all([
      migrate(db.url, { migrationsDir: dir, log }),
      migrate(`${db.url}?application_name=other`, { migrationsDir: dir, log }),
    ]);
    expect(messages).toContain('Waiting for another migration run to finish');
    expect(results.flatMap((r) => r.applied).sort()).toEqual(['20250101000000_first', '20250102000000_second']);
    expect((await history(db.url)).map((r) => r.migration_name)).toEqual([
      '20250101000000_first',
      '20250102000000_second',
    ]);
  });

  it('runs each migration in its own transaction and stops at the first failure', async () => {
    const db = await database();
    const dir = await migrationsDir({
      '20250101000000_ok': 'CREATE TABLE ok (id int);\n',
      '20250102000000_broken': 'CREATE TABLE half (id int);\nSELECT * FROM no_such_table;\n',
      '20250103000000_after': 'CREATE TABLE after (id int);\n',
    });
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await expect(migrate(db.url, { migrationsDir: dir })).rejects.toThrow(
      /20250102000000_broken failed and was rolled back: relation "no_such_table" does not exist/,
    );
    const tables = await query<{ table_name: string }>(
      db.url,
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    );
    expect(tables.map((t) => t.table_name)).toEqual(['_prisma_migrations', 'ok']);
    expect((await history(db.url)).map((r) => r.migration_name)).toEqual(['20250101000000_ok']);

    await writeFile(join(dir, '20250102000000_broken', 'migration.sql'), 'CREATE TABLE half (id int);\n');
    expect((await migrate(db.url, { migrationsDir: dir })).applied).toEqual([
      '20250102000000_broken',
      '20250103000000_after',
    ]);
  });

  it('refuses to continue after a migration Prisma recorded as failed', async () => {
    const db = await database();
    const dir = await migrationsDir({ '20250101000000_a': 'CREATE TABLE a (id int);\n' });
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await migrate(db.url, { migrationsDir: dir });
    await query(db.url, "UPDATE _prisma_migrations SET finished_at = NULL, logs = 'boom'");
    await expect(migrate(db.url, { migrationsDir: dir })).rejects.toThrow(/20250101000000_a failed earlier/);
  });
  it('moves stored inventory lists to one row per item, in order, keeping the later of two items with one key', async () => {
    const db = await database();
    const all = await listMigrations();
    const at = all.findIndex((m) => m.name.endsWith('_inventory_entity_rows'));
    expect(at).toBeGreaterThan(0);
    const before = await migrationsDir(Object.fromEntries(all.slice(0, at).map((m) => [m.name, m.sql])));
    cleanup.push(() => rm(before, { recursive: true, force: true }));
    await migrate(db.url, { migrationsDir: before });
    const image = (id: string, sizeBytes: number) => ({ id, sizeBytes });
    await query(
      db.url,
      `INSERT INTO organizations (id, slug, name) VALUES ('org_m', 'org-m', 'M');
       INSERT INTO hosts (org_id, id, machine_id, hostname) VALUES ('org_m', 'host_m', 'm', 'm');
       INSERT INTO host_inventories (org_id, host_id, collected_at, images_bytes, containers_bytes,
         container_logs_bytes, volumes_bytes, build_cache_bytes, image_count, container_count, volume_count,
         inventory, images, layers, containers, volumes)
       VALUES ('org_m', 'host_m', now(), 0, 0, 0, 0, 0, 3, 1, 0, '{"schemaVersion": 1}',
         '${JSON.stringify([image('sha256:b', 2), image('sha256:a', 1), image('sha256:b', 3)])}',
         '[{"chainId": "sha256:l", "sizeBytes": 5}]', '[{"id": "c1", "state": "exited"}]', '[]')`,
    );
    await migrate(db.url);
    const rows = await query<{ list: string; key: string; pos: string; data: unknown }>(
      db.url,
      'SELECT list, key, pos, data FROM host_inventory_entities ORDER BY list, pos',
    );
    expect(rows.map((r) => [r.list, r.key, r.data])).toEqual([
      ['containers', 'c1', { id: 'c1', state: 'exited' }],
      ['images', 'sha256:a', image('sha256:a', 1)],
      ['images', 'sha256:b', image('sha256:b', 3)],
      ['layers', 'sha256:l', { chainId: 'sha256:l', sizeBytes: 5 }],
    ]);
    const columns = await query<{ column_name: string }>(
      db.url,
      "SELECT column_name FROM information_schema.columns WHERE table_name = 'host_inventories' AND column_name IN ('images', 'layers', 'containers', 'volumes')",
    );
    expect(columns).toEqual([]);
  });
});
