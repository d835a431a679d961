// The CSV exports as a browser reaches them (the real route, session cookie, database), read
// back by PostgreSQL's own CSV parser (psql \copy) as the independent oracle.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { pgProgram } from '@ballast/db/test/pg';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as authRoute from '~/app/api/auth/[...all]/route';
import * as exportRoute from '~/app/api/export/[file]/route';
import { CLIENT_IP_HEADER } from './auth/better-auth';
import { toCsv } from './csv';
import { setRuntime } from './runtime';
import { registerHost } from './services/ingest';
import { cancelJob, createJob, type JobCaller } from './services/jobs';
import { ALL_JOB_CAPABILITIES } from './testing/jobs';
import { createWorld, silentLog, type TestUser, type World } from './testing/world';

const run = promisify(execFile);
const ORIGIN = 'http://127.0.0.1:3000';
/** A hostname an attacker could give their agent: a formula, a comma, quotes and a line break. */
const NASTY_HOSTNAME = '=HYPERLINK("http://x"),\n"web"';

let world: World;
let dir: string;
let hostId: string;
let jobIds: string[];

async function sql<T>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: world.db.connectionString });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}

/** Loads CSV text into a table of text columns with psql's \copy and returns the rows. */
async function parseWithPostgres(csv: string, columns: number): Promise<string[][]> {
  const file = path.join(dir, `export-${Date.now()}.csv`);
  await writeFile(file, csv);
  const table = `csv_${Math.random().toString(36).slice(2, 10)}`;
  const cols = Array.from({ length: columns }, (_, i) => `c${i} text`).join(', ');
  await sql(`CREATE TABLE ${table} (n serial, ${cols})`);
  const names = Array.from({ length: columns }, (_, i) => `c${i}`).join(', ');
  await run(pgProgram('psql'), [
    world.db.connectionString,
    '-v',
    'ON_ERROR_STOP=1',
    '-c',
    `\\copy ${table} (${names}) FROM '${file}' WITH (FORMAT csv, HEADER true)`,
  ]);
  const rows = await sql<Record<string, string | null>>(`SELECT ${names} FROM ${table} ORDER BY n`);
  return rows.map((row) => Array.from({ length: columns }, (_, i) => row[`c${i}`] ?? ''));
}

async function signIn(user: TestUser): Promise<string> {
  const response = await authRoute.POST(
    new Request(`${ORIGIN}/api/auth/sign-in/email`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: ORIGIN, [CLIENT_IP_HEADER]: '10.7.7.7' },
      body: JSON.stringify({ email: user.email, password: user.password }),
    }),
  );
  return response.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
}

const get = (file: string, query: string, cookie?: string) =>
  exportRoute.GET(new Request(`${ORIGIN}/api/export/${file}?${query}`, { headers: cookie ? { cookie } : {} }), {
    params: Promise.resolve({ file }),
  });

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ballast-export-'));
  world = await createWorld();
  setRuntime({
    prisma: world.db.prisma,
    events: world.events,
    embeddedDatabase: false,
    defaultOrgId: world.orgA,
    connectedAgents: () => 0,
    disconnectAgent: () => false,
    auth: world.auth,
    accounts: world.accounts,
    log: silentLog,
    publicUrl: undefined,
    secureCookies: false,
  });
  ({ hostId } = await registerHost(world.db.prisma, world.orgA, {
    machineId: 'export-host',
    hostname: NASTY_HOSTNAME,
    agentVersion: '0.2.0',
    capabilities: ALL_JOB_CAPABILITIES,
  }));
  const operator: JobCaller = {
    orgId: world.orgA,
    actor: `user:${world.a.operator.userId}`,
    actingUserId: world.a.operator.userId,
    role: 'operator',
    requireTwoPersonApproval: false,
  };
  const a = await createJob(world.db.prisma, operator, { hostId, kind: 'images.pruneDangling', params: {} });
  const b = await createJob(world.db.prisma, operator, { hostId, kind: 'buildCache.prune', params: {} });
  await cancelJob(world.db.prisma, operator, a.id);
  jobIds = [a.id, b.id];
});

afterAll(async () => {
  await world?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('toCsv', () => {
  it('quotes what RFC 4180 needs and defuses formulas, as PostgreSQL reads it back', async () => {
    const values = ['plain', 'a,b', 'say "hi"', 'two\nlines', '=1+1', '-3', '@SUM(A1)', '', 'ünïcode'];
    const csv = toCsv(
      ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'],
      [values, [1, -2, true, null, undefined, 0, 'x', 'y', 'z']],
    );
    expect(csv.endsWith('\r\n')).toBe(true);
    expect(await parseWithPostgres(csv, 9)).toEqual([
      ['plain', 'a,b', 'say "hi"', 'two\nlines', "'=1+1", "'-3", "'@SUM(A1)", '', 'ünïcode'],
      ['1', '-2', 'true', '', '', '0', 'x', 'y', 'z'],
    ]);
  });
});

describe('GET /api/export/audit.csv', () => {
  it('refuses callers who are not signed in', async () => {
    expect((await get('audit.csv', '')).status).toBe(401);
  });

  it('exports the filtered audit rows that SQL finds, with the hostname intact', async () => {
    const cookie = await signIn(world.a.viewer);
    const response = await get('audit.csv', `hostId=${hostId}&kind=images.pruneDangling`, cookie);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(response.headers.get('content-disposition')).toContain('ballast-audit.csv');
    const rows = await parseWithPostgres(await response.text(), 14);
    const expected = await sql<{ action: string; target: string; actor: string }>(
      "SELECT action, target, actor FROM audit_events WHERE org_id = $1 AND details->>'hostId' = $2 AND details->>'kind' = 'images.pruneDangling' ORDER BY at DESC, id DESC",
      [world.orgA, hostId],
    );
    expect(expected.map((r) => r.action)).toEqual(['job.cancelled', 'job.requested']);
    expect(rows.map((r) => [r[3], r[4], r[1]])).toEqual(expected.map((r) => [r.action, r.target, r.actor]));
    expect(rows.every((r) => r[2] === world.a.operator.email)).toBe(true);
    expect(rows.every((r) => r[6] === `'${NASTY_HOSTNAME}`)).toBe(true);
    expect(rows.every((r) => r[7] === 'images.pruneDangling' && r[5] === hostId)).toBe(true);
  });

  it('answers a bad filter with 400 and an unknown file with 404', async () => {
    const cookie = await signIn(world.a.viewer);
    const bad = await get('audit.csv', 'kind=rm-rf', cookie);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain('kind');
    expect((await get('secrets.csv', '', cookie)).status).toBe(404);
  });

  it('gives another organization none of these rows', async () => {
    const cookie = await signIn(world.bAdmin);
    const rows = await parseWithPostgres(await (await get('audit.csv', '', cookie)).text(), 14);
    expect(rows.filter((r) => jobIds.includes(r[4] ?? ''))).toEqual([]);
  });
});

describe('GET /api/export/jobs.csv', () => {
  it('exports the jobs SQL finds for the filters', async () => {
    const cookie = await signIn(world.a.viewer);
    const rows = await parseWithPostgres(await (await get('jobs.csv', `hostId=${hostId}`, cookie)).text(), 17);
    const expected = await sql<{ id: string; state: string; kind: string }>(
      'SELECT id, state, kind FROM jobs WHERE org_id = $1 AND host_id = $2 ORDER BY created_at DESC, id DESC',
      [world.orgA, hostId],
    );
    expect(rows.map((r) => [r[0], r[5], r[4]])).toEqual(expected.map((j) => [j.id, j.state, j.kind]));
    expect(rows.map((r) => r[5]).sort()).toEqual(['cancelled', 'requested']);
  });
});
