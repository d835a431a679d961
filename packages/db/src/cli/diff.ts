import { parseArgs } from 'node:util';
import { createMigration } from '../diff.js';

const usage = 'usage: npm run db:diff -- --name <what_changed>';

let name: string | undefined;
try {
  ({
    values: { name },
  } = parseArgs({ options: { name: { type: 'string', short: 'n' } }, strict: true }));
} catch (error) {
  console.error(`${error instanceof Error ? error.message : error}\n${usage}`);
  process.exit(2);
}
if (!name) {
  console.error(usage);
  process.exit(2);
}

try {
  await createMigration({ name, log: (message) => console.log(message) });
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
