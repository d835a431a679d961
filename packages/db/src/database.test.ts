import { describe, expect, it } from 'vitest';
import { openDatabase } from './database.js';
import { createTestDatabase } from './test/pg.js';
import { exercisePrisma } from './test/scenario.js';

describe('openDatabase with a PostgreSQL server', () => {
  it('migrates and passes the query scenario', async () => {
    const db = await createTestDatabase();
    try {
      const database = await openDatabase({ databaseUrl: db.url, dataDir: '/nonexistent/unused' });
      try {
        expect(database.embedded).toBe(false);
        expect(database.connectionString).toBe(db.url);
        await exercisePrisma(database.prisma);
      } finally {
        await database.close();
      }
    } finally {
      await db.drop();
    }
  });
});
