import { env } from '../env.js';
import { migrate } from '../migrate.js';

if (!env.DATABASE_URL) {
  console.error('DATABASE_URL is not set: point it at the PostgreSQL database to migrate.');
  process.exit(2);
}

try {
  await migrate(env.DATABASE_URL, { log: (message) => console.log(message) });
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
