import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPrismaDir, isEmptyMigration, lastMigratedSchema, openSchemaDiffer, type SchemaDiffer } from './diff.js';
import { migrate } from './migrate.js';
import { createTestDatabase, pgProgram } from './test/pg.js';

const run = promisify(execFile);

/**
 * The schema as pg_dump prints it, minus what differs between any two dumps (comments, session
 * settings) and column compression, a storage setting Prisma's schema cannot express (the
 * migrations set LZ4 on the large documents).
 */
async function dumpSchema(url: string): Promise<string> {
  const { stdout } = await run(pgProgram('pg_dump'), [
    '--schema-only',
    '--no-owner',
    '--no-privileges',
    '--exclude-table=_prisma_migrations',
    `--dbname=${url}`,
  ]);
  return stdout
    .split('\n')
    .filter((line) => !/^(--|\\restrict |\\unrestrict |SET |SELECT pg_catalog\.set_config\()/.test(line))
    .filter((line) => !/^ALTER TABLE ONLY \S+ ALTER COLUMN \S+ SET COMPRESSION \w+;$/.test(line))
    .join('\n')
    .replace(/\n{2,}/g, '\n\n')
    .trim();
}

async function execute(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

describe('the migrations', () => {
  let differ: SchemaDiffer;
  let schema: string;
  beforeAll(async () => {
    [differ, schema] = await Promise.all([
      openSchemaDiffer(),
      readFile(join(defaultPrismaDir, 'schema.prisma'), 'utf8'),
    ]);
  });
  afterAll(() => differ?.close());

  it('build exactly the database that schema.prisma describes', async () => {
    const [migrated, direct] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    try {
      await migrate(migrated.url);
      await execute(direct.url, await differ.diff(null, schema));
      const [fromMigrations, fromSchema] = await Promise.all([dumpSchema(migrated.url), dumpSchema(direct.url)]);
      expect(fromSchema).toContain('CREATE TABLE public.hosts');
      expect(
        fromMigrations,
        'prisma/migrations do not produce schema.prisma: run `npm run db:diff -- --name <change>`',
      ).toBe(fromSchema);
    } finally {
      await Promise.all([migrated.drop(), direct.drop()]);
    }
  });

  it('end with a snapshot equal to schema.prisma', async () => {
    const snapshot = await lastMigratedSchema();
    expect(snapshot, 'no migrations yet').not.toBeNull();
    const pending = await differ.diff(snapshot, schema);
    expect(
      isEmptyMigration(pending),
      `schema.prisma changed since the last migration: run \`npm run db:diff -- --name <change>\`\n${pending}`,
    ).toBe(true);
  });
});
