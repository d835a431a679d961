import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';

/** The server the integration tests run against; its absence fails them, never skips them. */
export function testDatabaseUrl(): string {
  const url = process.env.BALLAST_TEST_DATABASE_URL;
  if (!url) {
    throw new Error(
      'BALLAST_TEST_DATABASE_URL is not set. Start the test services (scripts/services.sh start, from the repo ' +
        'root) and `source` the env file it prints, or point it at a PostgreSQL server where the user may CREATE DATABASE.',
    );
  }
  return url;
}

/** A PostgreSQL client program, from BALLAST_TEST_PG_BIN when set (its version must be ≥ the server's). */
export function pgProgram(name: string): string {
  const bin = process.env.BALLAST_TEST_PG_BIN;
  return bin ? join(bin, name) : name;
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testDatabaseUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh, empty database on the test server, so test files can run in parallel. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `ballast_test_${randomBytes(6).toString('hex')}`;
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(testDatabaseUrl());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  };
}
