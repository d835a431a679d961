import { defineConfig } from 'prisma/config';
import { env } from './src/env.js';

// Only Prisma's own migrate commands read the datasource URL, and they need Prisma's native
// schema engine; this project applies and writes migrations with src/migrate.ts and src/diff.ts.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  ...(env.DATABASE_URL ? { datasource: { url: env.DATABASE_URL } } : {}),
});
