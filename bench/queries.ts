// `npm run bench -- queries [--hosts 10000] [--images 150] [--days 90] [--iterations 40] [--reseed]`
//
// Server-side latency of the dashboard's heaviest reads at fleet scale, against the PostgreSQL
// server given by BALLAST_TEST_DATABASE_URL (`scripts/services.sh start`). Seeds, once, a
// database `ballast_bench_queries` with one organization of --hosts hosts, each with a stored
// inventory of --images images (drawn from a pool so the same image sits on many hosts), the
// savings engine's opportunities for it, and --days days of hourly history; reruns reuse the
// seed unless --reseed. Then times the service functions the tRPC procedures call, on a warm
// cache, with the app's own Prisma client: fleet overview, top opportunities (unfiltered and
// filtered by kind and by host label) and host detail of random hosts.
// Targets (issue): p95 fleet overview and top opportunities ≤ 150 ms, host detail ≤ 100 ms.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createPrismaClient, migrate, splitInventoryDocument } from '@ballast/db';
import type { Inventory } from '@ballast/shared';
import { makeSampleInventory } from '@ballast/shared/sample-inventory';
import { computeOpportunities, DEFAULT_SAVINGS_POLICY } from '@ballast/shared/savings/index';
import pg from 'pg';
import {
  fleetOverview,
  LIST_OBJECTS,
  listOpportunities,
  ZOpportunityListInput,
} from '../apps/web/src/server/services/fleet.js';
import { hostDetail } from '../apps/web/src/server/services/host-detail.js';

const TARGET_MS = { fleetOverview: 150, topOpportunities: 150, hostDetail: 100 };
const POOL = 600;
const ORG_ID = 'org_bench';
const DAY_MS = 86_400_000;

const { values: flags } = parseArgs({
  options: {
    hosts: { type: 'string', default: '10000' },
    images: { type: 'string', default: '150' },
    days: { type: 'string', default: '90' },
    iterations: { type: 'string', default: '40' },
    reseed: { type: 'boolean', default: false },
  },
});
const hosts = Number(flags.hosts);
const imagesPerHost = Number(flags.images);
const days = Number(flags.days);
const iterations = Number(flags.iterations);
if (![hosts, imagesPerHost, days, iterations].every((n) => Number.isInteger(n) && n > 0) || imagesPerHost > POOL / 4) {
  console.error(`bench queries: --hosts, --days, --iterations must be positive integers; --images at most ${POOL / 4}`);
  process.exit(2);
}
const serverUrl = process.env.BALLAST_TEST_DATABASE_URL;
if (!serverUrl) {
  console.error(
    'bench queries: BALLAST_TEST_DATABASE_URL is not set. Start PostgreSQL with scripts/services.sh start and `source` the env file it prints.',
  );
  process.exit(2);
}
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const hex64 = (s: string) => createHash('sha256').update(s).digest('hex');

/** One database per fleet size, so a small trial run never throws away the big seed. */
const dbName = `ballast_bench_queries_${hosts}`;
const dbUrl = (() => {
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  return url.toString();
})();

/** A deterministic pseudo-random number in [0, 1) for (a, b). */
function rand(a: number, b: number): number {
  let x = (a * 374_761_393 + b * 668_265_263) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 1_274_126_177) >>> 0;
  return ((x ^ (x >>> 16)) >>> 0) / 2 ** 32;
}

/** Host i's inventory: `imagesPerHost` images of the pool, 10 shared base layers, containers using some. */
function inventoryFor(i: number, now: Date): Inventory {
  const inv = makeSampleInventory({ machineId: `machine-${i}`, hostname: `host-${i}`, collectedAt: now });
  inv.host.labels = { env: ['prod', 'staging', 'dev'][i % 3] as string, team: `team-${i % 20}` };
  const picks = Array.from({ length: imagesPerHost }, (_, k) => (i * 7 + k * 4) % POOL);
  const bases = Array.from({ length: 10 }, (_, b) => ({ id: sha(`base-${b}`), bytes: 50_000_000 + b * 1_000_000 }));
  const running = picks.slice(0, 20).map((p) => ({ p, id: hex64(`ctr-${i}-${p}`) }));
  const exited = picks.slice(20, 30).map((p) => ({ p, id: hex64(`exited-${i}-${p}`) }));
  const layerImages = new Map<string, string[]>();
  inv.images = picks.map((p) => {
    const base = bases[p % 10] as { id: string; bytes: number };
    const own = sha(`layer-${p}`);
    const ownBytes = 1_000_000 + Math.floor(rand(p, 1) * 400_000_000);
    const id = sha(`image-${p}`);
    for (const layer of [base.id, own]) layerImages.set(layer, [...(layerImages.get(layer) ?? []), id]);
    const users = [...running, ...exited].filter((c) => c.p === p).map((c) => c.id);
    const created = new Date(now.getTime() - (5 + (p % 200)) * DAY_MS).toISOString();
    return {
      id,
      repoTags: p % 25 === 0 ? [] : [`registry.example.com/svc-${p % 60}:${p}`],
      repoDigests: [],
      createdAt: created,
      labels: { 'org.opencontainers.image.source': `https://git.example.com/svc-${p % 60}` },
      dangling: p % 25 === 0,
      parentId: null,
      diffIds: [base.id, own],
      chainIds: [base.id, own],
      sizeBytes: base.bytes + ownBytes,
      exclusiveBytes: ownBytes,
      sharedBytes: base.bytes,
      containerIds: users,
      lastUsedAt: users.length > 0 ? now.toISOString() : created,
      buildCacheHeld: false,
    };
  });
  inv.layers = [...layerImages.entries()].map(([chainId, imageIds]) => {
    const base = bases.find((b) => b.id === chainId);
    const bytes = base ? base.bytes : (inv.images.find((im) => im.chainIds[1] === chainId)?.exclusiveBytes ?? 0);
    return {
      chainId,
      diffId: chainId,
      cacheId: hex64(`cache-${chainId}`),
      sizeBytes: bytes,
      apparentBytes: bytes,
      allocatedBytes: bytes + 4096,
      imageIds,
    };
  });
  const template = inv.containers[0] as Inventory['containers'][number];
  inv.containers = [
    ...running.map((c, n) => ({
      ...template,
      id: c.id,
      name: `svc-${n}`,
      imageId: sha(`image-${c.p}`),
      image: `registry.example.com/svc-${c.p % 60}:${c.p}`,
      logFiles: [],
      logBytes: Math.floor(rand(i, n) * 2e9),
      logRotation: n % 3 !== 0,
      volumeNames: [],
    })),
    ...exited.map((c, n) => ({
      ...template,
      id: c.id,
      name: `job-${n}`,
      imageId: sha(`image-${c.p}`),
      image: `registry.example.com/svc-${c.p % 60}:${c.p}`,
      state: 'exited' as const,
      finishedAt: new Date(now.getTime() - 30 * DAY_MS).toISOString(),
      writableBytes: Math.floor(rand(i, 100 + n) * 5e8),
      logFiles: [],
      logBytes: 0,
      volumeNames: [],
    })),
  ];
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  inv.totals = {
    imagesBytes: sum(inv.layers.map((l) => l.sizeBytes)),
    containersBytes: sum(inv.containers.map((c) => c.writableBytes ?? 0)),
    containerLogsBytes: sum(inv.containers.map((c) => c.logBytes)),
    volumesBytes: sum(inv.volumes.map((v) => v.sizeBytes ?? 0)),
    buildCacheBytes: inv.buildCache.totalBytes,
    unattributedBytes: 0,
    imageCount: inv.images.length,
    containerCount: inv.containers.length,
    volumeCount: inv.volumes.length,
  };
  const fs = inv.filesystem as NonNullable<Inventory['filesystem']>;
  fs.sizeBytes = 200e9;
  fs.usedBytes = Math.floor(60e9 + rand(i, 2) * 100e9);
  fs.freeBytes = fs.sizeBytes - fs.usedBytes;
  return inv;
}

async function seed(client: pg.Client, now: Date) {
  log(`migrating ${dbName}`);
  await migrate(dbUrl);
  await client.query('DROP TABLE IF EXISTS bench_seed');
  await client.query('TRUNCATE organizations CASCADE');
  await client.query(`INSERT INTO organizations (id, slug, name) VALUES ($1, 'bench', 'Bench')`, [ORG_ID]);
  log(`hosts: ${hosts}`);
  await client.query(
    `INSERT INTO hosts (org_id, id, machine_id, hostname, labels, first_seen_at, last_seen_at, last_snapshot_at, connected)
     SELECT $1, 'host_' || i, 'machine-' || i, 'host-' || i,
            jsonb_build_object('env', (ARRAY['prod','staging','dev'])[i % 3 + 1], 'team', 'team-' || (i % 20)),
            $2::timestamptz - interval '1 day' * $3, $2, $2, true
     FROM generate_series(0, $4 - 1) AS i`,
    [ORG_ID, now, days, hosts],
  );
  log(`history: ${hosts} hosts × ${days * 24} hours`);
  const started = performance.now();
  const chunk = 500;
  for (let from = 0; from < hosts; from += chunk) {
    // used = a per-host base plus a per-host daily growth, with noise; categories follow.
    await client.query(
      `INSERT INTO host_usage_hourly (org_id, host_id, hour, images_bytes, containers_bytes, container_logs_bytes,
         volumes_bytes, build_cache_bytes, unattributed_bytes, fs_size_bytes, fs_used_bytes, fs_free_bytes, samples)
       SELECT $1, 'host_' || i, h,
              (20e9 + g * 0.5)::bigint, (1e9 + g * 0.1)::bigint, (2e9 + g * 0.3)::bigint, 5e9::bigint,
              (3e9 + g * 0.1)::bigint, 0, 200e9::bigint, (40e9 + g)::bigint, (160e9 - g)::bigint, 60
       FROM generate_series($2::int, $3::int) AS i,
            generate_series(date_trunc('hour', $4::timestamptz) - interval '1 hour' * ($5 - 1),
                            date_trunc('hour', $4::timestamptz), interval '1 hour') AS h,
            LATERAL (SELECT ((extract(epoch FROM h - ($4::timestamptz - interval '1 day' * $6)) / 86400)
                              * (1e8 + (i % 97) * 2e7) + (i % 13) * 1e8 + random() * 1e7) AS g) AS growth`,
      [ORG_ID, from, Math.min(from + chunk, hosts) - 1, now, days * 24, days],
    );
    log(`  history ${Math.min(from + chunk, hosts)}/${hosts} (${Math.round((performance.now() - started) / 1000)} s)`);
  }
  log('inventories and opportunities');
  const batch = 25;
  for (let from = 0; from < hosts; from += batch) {
    const invRows: unknown[] = [];
    const oppRows: unknown[] = [];
    const entityRows: unknown[] = [];
    for (let i = from; i < Math.min(from + batch, hosts); i++) {
      const inv = inventoryFor(i, now);
      const t = inv.totals;
      const fs = inv.filesystem as NonNullable<Inventory['filesystem']>;
      const opportunities = computeOpportunities(inv, DEFAULT_SAVINGS_POLICY, now);
      const stored = splitInventoryDocument(inv as unknown as Record<string, unknown>);
      invRows.push([
        ORG_ID,
        `host_${i}`,
        now,
        t.imagesBytes,
        t.containersBytes,
        t.containerLogsBytes,
        t.volumesBytes,
        t.buildCacheBytes,
        fs.sizeBytes,
        fs.usedBytes,
        fs.freeBytes,
        t.imageCount,
        t.containerCount,
        t.volumeCount,
        opportunities.reduce((sum, o) => sum + o.reclaimableBytes, 0),
        opportunities.reduce((sum, o) => sum + o.monthlyCost, 0),
        JSON.stringify(stored.inventory),
      ]);
      entityRows.push(...stored.entities.map((row) => ({ host_id: `host_${i}`, ...row })));
      for (const o of opportunities) {
        oppRows.push([
          ORG_ID,
          `host_${i}`,
          o.kind,
          o.title,
          o.reclaimableBytes,
          o.monthlyCost,
          o.risk,
          o.confidence,
          o.explanation,
          JSON.stringify(o.caveats),
          JSON.stringify(o.objects),
          o.objects.length,
          JSON.stringify(o.objects.slice(0, LIST_OBJECTS)),
          o.action ? JSON.stringify(o.action) : null,
          o.defaultSelected,
          now,
        ]);
      }
    }
    await insertRows(
      client,
      `host_inventories (org_id, host_id, collected_at, images_bytes, containers_bytes, container_logs_bytes, volumes_bytes,
        build_cache_bytes, fs_size_bytes, fs_used_bytes, fs_free_bytes, image_count, container_count, volume_count,
        reclaimable_bytes, reclaimable_monthly_cost, inventory)`,
      invRows,
    );
    await insertRows(
      client,
      `host_opportunities (org_id, host_id, kind, title, reclaimable_bytes, monthly_cost, risk, confidence, explanation,
        caveats, objects, object_count, top_objects, action, default_selected, computed_at)`,
      oppRows,
    );
    await client.query(
      `INSERT INTO host_inventory_entities (org_id, host_id, list, key, pos, data)
       SELECT $1, r.host_id, r.list, r.key, r.pos, r.data
       FROM jsonb_to_recordset($2::jsonb) AS r(host_id text, list text, key text, pos bigint, data jsonb)`,
      [ORG_ID, JSON.stringify(entityRows)],
    );
    if ((from / batch) % 40 === 0) log(`  inventories ${Math.min(from + batch, hosts)}/${hosts}`);
  }
  await client.query('VACUUM ANALYZE');
  await client.query('CREATE TABLE bench_seed (hosts int, images int, days int, seeded_at timestamptz)');
  await client.query('INSERT INTO bench_seed VALUES ($1, $2, $3, $4)', [hosts, imagesPerHost, days, now]);
}

async function insertRows(client: pg.Client, target: string, rows: unknown[]) {
  if (rows.length === 0) return;
  const width = (rows[0] as unknown[]).length;
  const values = rows.map((_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(', ')})`);
  await client.query(`INSERT INTO ${target} VALUES ${values.join(', ')}`, rows.flat() as unknown[]);
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
}

async function time(name: string, fn: (n: number) => Promise<unknown>) {
  for (let n = 0; n < 3; n++) await fn(-1 - n);
  const samples: number[] = [];
  for (let n = 0; n < iterations; n++) {
    const t0 = performance.now();
    await fn(n);
    samples.push(performance.now() - t0);
  }
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    name,
    p50Ms: round(percentile(samples, 50)),
    p95Ms: round(percentile(samples, 95)),
    maxMs: round(Math.max(...samples)),
  };
}

async function main() {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [dbName])).rowCount === 1;
  if (!exists) await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();

  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  const marker = await client
    .query<{ hosts: number; images: number; days: number; seeded_at: Date }>('SELECT * FROM bench_seed')
    .then((r) => r.rows[0])
    .catch(() => undefined);
  let now: Date;
  if (!flags.reseed && marker && marker.hosts === hosts && marker.images === imagesPerHost && marker.days === days) {
    now = marker.seeded_at;
    log(`reusing the seed of ${now.toISOString()} (--reseed to rebuild)`);
    await migrate(dbUrl);
  } else {
    now = new Date();
    const t0 = performance.now();
    await seed(client, now);
    log(`seeded in ${Math.round((performance.now() - t0) / 1000)} s`);
  }
  // Ingest refits each host's disk-full forecast at every snapshot; the seed does it once.
  await client.query(
    `UPDATE host_inventories AS i
     SET growth_bytes_per_day = fit.slope,
         full_at = CASE WHEN fit.slope > 0
                   THEN i.collected_at + least(greatest(i.fs_size_bytes - i.fs_used_bytes, 0) / fit.slope, 36500) * interval '1 day'
                   END
     FROM (SELECT host_id, regr_slope(fs_used_bytes::float8, extract(epoch FROM hour)) * 86400 AS slope
           FROM host_usage_hourly WHERE org_id = $1 AND hour >= $2::timestamptz - interval '14 days' GROUP BY host_id) AS fit
     WHERE i.org_id = $1 AND i.host_id = fit.host_id AND i.growth_bytes_per_day IS NULL`,
    [ORG_ID, now],
  );
  const counts = (
    await client.query<{ images: string; hourly: string; opportunities: string }>(
      `SELECT (SELECT sum(image_count) FROM host_inventories)::text AS images,
              (SELECT count(*) FROM host_usage_hourly)::text AS hourly,
              (SELECT count(*) FROM host_opportunities)::text AS opportunities`,
    )
  ).rows[0];
  await client.end();

  const prisma = createPrismaClient(dbUrl);
  const input = (over: object) => ZOpportunityListInput.parse(over);
  const results = [
    await time('fleetOverview', () => fleetOverview(prisma, ORG_ID, now)),
    await time('topOpportunities', () => listOpportunities(prisma, ORG_ID, input({}))),
    await time('topOpportunities(kind)', () => listOpportunities(prisma, ORG_ID, input({ kind: 'images.unused' }))),
    await time('topOpportunities(label)', () =>
      listOpportunities(prisma, ORG_ID, input({ hostLabel: 'team=team-7', limit: 50 })),
    ),
    await time('hostDetail', (n) => hostDetail(prisma, ORG_ID, `host_${Math.floor(rand(n + 10, 3) * hosts)}`, now)),
  ];
  await prisma.$disconnect();

  const target = (name: string) =>
    name.startsWith('topOpportunities') ? TARGET_MS.topOpportunities : TARGET_MS[name as keyof typeof TARGET_MS];
  const rows = results.map((r) => ({ ...r, targetP95Ms: target(r.name), met: r.p95Ms <= target(r.name) }));
  console.log(
    `\nqueries: ${hosts} hosts, ${counts?.images} image rows, ${counts?.hourly} hourly rows, ${counts?.opportunities} opportunities; ${iterations} runs each`,
  );
  for (const r of rows) {
    console.log(
      `  ${r.name.padEnd(26)} p50 ${String(r.p50Ms).padStart(7)} ms   p95 ${String(r.p95Ms).padStart(7)} ms   max ${String(r.maxMs).padStart(7)} ms   target p95 ≤ ${r.targetP95Ms} ms  ${r.met ? 'met' : 'MISSED'}`,
    );
  }
  const out = path.join('bench', 'results', 'queries.json');
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(
    out,
    `${JSON.stringify(
      {
        bench: 'queries',
        at: new Date().toISOString(),
        seed: { hosts, imagesPerHost, days, seededAt: now.toISOString(), ...counts },
        iterations,
        results: rows,
        allMet: rows.every((r) => r.met),
      },
      null,
      2,
    )}\n`,
  );
  console.log(`wrote ${out}`);
}

await main();
