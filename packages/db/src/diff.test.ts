import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMigration,
  defaultPrismaDir,
  isEmptyMigration,
  migrationSlug,
  openSchemaDiffer,
  type SchemaDiffer,
} from './diff.js';

describe('createMigration', () => {
  let differ: SchemaDiffer;
  let prismaDir: string;
  beforeAll(async () => {
    differ = await openSchemaDiffer();
    prismaDir = await mkdtemp(join(tmpdir(), 'ballast-prisma-'));
    await cp(join(defaultPrismaDir, 'schema.prisma'), join(prismaDir, 'schema.prisma'));
  });
  afterAll(async () => {
    await differ?.close();
    await rm(prismaDir, { recursive: true, force: true });
  });

  it('writes migrations with snapshots, and nothing when the schema is unchanged', async () => {
    const migrationsDir = join(prismaDir, 'migrations');
    const init = await createMigration({ name: 'init', prismaDir, differ, now: new Date('2025-05-01T12:00:00Z') });
    expect(init).toMatchObject({ created: true, migrationName: '20250501120000_init' });
    expect(await readFile(join(migrationsDir, '20250501120000_init', 'migration.sql'), 'utf8')).toContain(
      'CREATE TABLE "hosts"',
    );
    expect(await readFile(join(migrationsDir, 'migration_lock.toml'), 'utf8')).toContain('provider = "postgresql"');

    const messages: string[] = [];
    const unchanged = await createMigration({ name: 'nothing', prismaDir, differ, log: (m) => messages.push(m) });
    expect(unchanged).toEqual({ created: false });
    expect(messages).toEqual(['no changes']);
    expect(await readdir(migrationsDir)).toEqual(['20250501120000_init', 'migration_lock.toml']);

    const schema = await readFile(join(prismaDir, 'schema.prisma'), 'utf8');
    await writeFile(
      join(prismaDir, 'schema.prisma'),
      schema.replace(/(\n {2}hostname +String\n)/, '$1  osName String? @map("os_name")\n'),
    );
    // A clock behind the latest folder must not reorder the history.
    const next = await createMigration({ name: 'host os', prismaDir, differ, now: new Date('2025-01-01T00:00:00Z') });
    expect(next).toMatchObject({ created: true, migrationName: '20250501120001_host_os' });
    const sql = next.created ? next.sql : '';
    expect(sql).toMatch(/ALTER TABLE "hosts" ADD COLUMN\s+"os_name" TEXT;/);
    expect(sql).not.toContain('CREATE TABLE');
    expect(await readFile(join(migrationsDir, '20250501120001_host_os', 'schema.prisma'), 'utf8')).toContain('os_name');
  });

  it('rejects names that would make an empty slug', () => {
    expect(migrationSlug('  add host/labels! ')).toBe('add_host_labels');
    expect(() => migrationSlug('---')).toThrow(/Invalid migration name/);
  });

  it('recognizes the empty script', () => {
    expect(isEmptyMigration('-- This is an empty migration.\n')).toBe(true);
    expect(isEmptyMigration('-- AddColumn\nALTER TABLE x ADD COLUMN y int;\n')).toBe(false);
  });
});
