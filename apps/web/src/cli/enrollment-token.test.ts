import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openDatabase } from '@ballast/db';
import { createTestDatabase } from '@ballast/db/test/pg';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../server/auth/secrets';
import { ensureDefaultOrganization } from '../server/services/organizations';
import { parseDuration } from './enrollment-token';

const run = promisify(execFile);
const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('enrollment-token command', () => {
  it('parses lifetimes and refuses ones out of range', () => {
    expect(parseDuration('24h')).toBe(86_400);
    expect(parseDuration('30m')).toBe(1800);
    expect(parseDuration('7d')).toBe(7 * 86_400);
    expect(parseDuration('31d')).toBeNull();
    expect(parseDuration('10s')).toBeNull();
    expect(parseDuration('soon')).toBeNull();
  });

  it('prints a token whose hash alone is stored', async () => {
    const database = await createTestDatabase();
    const db = await openDatabase({ databaseUrl: database.url, dataDir: '/nonexistent' });
    try {
      const org = await ensureDefaultOrganization(db.prisma);
      const { stdout } = await run(
        process.execPath,
        ['--import', 'tsx', 'src/cli/enrollment-token.ts', '--org', 'default', '--expires', '2h', '--max-uses', '3'],
        { cwd: webDir, env: { ...process.env, DATABASE_URL: database.url } },
      );
      const token = stdout.split('\n')[0] ?? '';
      expect(token).toMatch(/^ble_[0-9a-z]+_[A-Za-z0-9_-]{43}$/);
      expect(stdout).toContain(`ballast-agent enroll --server https://ballast.example.com --token ${token}`);
      const rows = await db.prisma.enrollmentToken.findMany({ where: { orgId: org.id } });
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ tokenHash: sha256Hex(token), maxUses: 3, uses: 0, createdBy: 'cli' });
    } finally {
      await db.close();
      await database.drop();
    }
  }, 60_000);
});
