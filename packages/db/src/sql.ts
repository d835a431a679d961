// Tagged SQL fragments for $queryRaw, importable on its own (`@ballast/db/sql`) by code that
// Next bundles, like ids.ts: it has no relative imports, and Prisma's runtime stays external.
export { empty, join, raw, Sql, sqltag as sql } from '@prisma/client/runtime/client';
