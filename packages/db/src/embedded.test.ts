import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from './database.js';
import { startEmbeddedPostgres } from './embedded.js';
import { listMigrations } from './migrate.js';
import { exercisePrisma } from './test/scenario.js';

describe('the embedded database', () => {
  const dirs: string[] = [];
  afterAll(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));
  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'ballast-embedded-'));
    dirs.push(dir);
    return dir;
  }

  it('migrates, keeps data across restarts, and passes the query scenario', async () => {
    const dataDir = join(await tempDir(), 'data');
    const first = await openDatabase({ dataDir });
    expect(first.embedded).toBe(true);
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    try {
      const applied = await first.prisma.$queryRaw<{ migration_name: string }[]>`
        SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL ORDER BY migration_name`;
      expect(applied.map((row) => row.migration_name)).toEqual((await listMigrations()).map((m) => m.name));
      await first.prisma.organization.create({ data: { id: 'org_persisted', slug: 'persisted', name: 'Persisted' } });
      // PGlite itself does not guard its directory; two instances on one would corrupt it.
      await expect(startEmbeddedPostgres({ dataDir })).rejects.toThrow(/already open by this process/);
      await exercisePrisma(first.prisma);
    } finally {
      await first.close();
    }

    const second = await openDatabase({ dataDir });
    try {
      const org = await second.prisma.organization.findUnique({ where: { id: 'org_persisted' } });
      expect(org?.name).toBe('Persisted');
      await expect(second.prisma.organization.deleteMany({})).rejects.toThrow(/non-empty where/);
      expect(await second.prisma.organization.count()).toBeGreaterThanOrEqual(1);
    } finally {
      await second.close();
    }
  });
});
