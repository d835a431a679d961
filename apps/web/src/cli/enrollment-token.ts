// Creates an enrollment token from the command line, for admins provisioning hosts with
// configuration management: `npm run -w @ballast/web enrollment-token -- --org default --expires 24h --max-uses 10`.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase } from '@ballast/db';
import { parseEnv } from '../env';
import { createEnrollmentToken } from '../server/services/enrollment';

const HELP = `Usage: npm run -w @ballast/web enrollment-token -- [--org SLUG] [--expires 24h] [--max-uses 10] [--name NAME] [--server URL]

Creates an enrollment token and prints it once (only its hash is stored). Agents exchange it
with \`ballast-agent enroll --server URL --token TOKEN\` for their own credential.

  --org SLUG       organization slug (default: default)
  --expires DUR    lifetime: 30m, 24h, 7d ... at most 30d (default 24h)
  --max-uses N     how many agents may enroll with it (default 10)
  --name NAME      label shown in the dashboard (default "cli")
  --server URL     server URL to put in the printed enroll command (default: BALLAST_PUBLIC_URL)

Uses DATABASE_URL, or the embedded database in BALLAST_DATA_DIR, like the server.`;

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** "24h" → 86400; null for anything else or beyond 30 days. */
export function parseDuration(text: string): number | null {
  const match = /^(\d{1,6})([smhd])$/.exec(text.trim());
  if (!match?.[1] || !match[2]) return null;
  const seconds = Number(match[1]) * (UNIT_SECONDS[match[2]] ?? 0);
  return seconds >= 60 && seconds <= 30 * 86_400 ? seconds : null;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      org: { type: 'string', default: 'default' },
      expires: { type: 'string', default: '24h' },
      'max-uses': { type: 'string', default: '10' },
      name: { type: 'string', default: 'cli' },
      server: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const expiresInSeconds = parseDuration(values.expires);
  if (expiresInSeconds === null) throw new UsageError(`--expires ${values.expires}: use 30m, 24h, 7d (1m to 30d)`);
  const maxUses = Number(values['max-uses']);
  if (!Number.isInteger(maxUses) || maxUses < 1 || maxUses > 10_000) {
    throw new UsageError(`--max-uses ${values['max-uses']}: a whole number from 1 to 10000`);
  }
  const env = parseEnv();
  const db = await openDatabase({ databaseUrl: env.DATABASE_URL, dataDir: path.resolve(env.BALLAST_DATA_DIR) });
  try {
    const org = await db.prisma.organization.findUnique({ where: { slug: values.org }, select: { id: true } });
    if (!org) throw new UsageError(`no organization with slug ${JSON.stringify(values.org)}`);
    const { token, enrollmentToken } = await createEnrollmentToken(db.prisma, org.id, 'cli', {
      name: values.name,
      expiresInSeconds,
      maxUses,
    });
    const server = values.server ?? env.BALLAST_PUBLIC_URL ?? 'https://ballast.example.com';
    process.stdout.write(
      `${token}\n\nExpires ${enrollmentToken.expiresAt.toISOString()}, ${maxUses} use(s). It is shown only now.\n` +
        `On each host:\n  ballast-agent enroll --server ${server} --token ${token}\n`,
    );
    return 0;
  } finally {
    await db.close();
  }
}

class UsageError extends Error {}

if (process.argv[1] && path.resolve(process.argv[1]).endsWith(path.join('cli', 'enrollment-token.ts'))) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`enrollment-token: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(
        error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1,
      );
    },
  );
}
