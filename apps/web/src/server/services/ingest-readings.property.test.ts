// The server's half of the delta protocol, against PostgreSQL: whatever order, repetition and
// gaps frames arrive in, a host's stored reading is exactly the agent's inventory for the stored
// seq, each reading is counted in the hourly history once, and every outcome is the one the
// protocol prescribes.
import { type Database, fullInventorySql, openDatabase } from '@ballast/db';
import { createTestDatabase } from '@ballast/db/test/pg';
import { applyInventoryDelta, diffInventories, type Inventory, inventoryByKey } from '@ballast/shared';
import { makeSampleInventory } from '@ballast/shared/sample-inventory';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestReading, type Reading, registerHost } from './ingest';
import { ensureDefaultOrganization } from './organizations';

let db: Database;
let drop: () => Promise<void>;
let sql: pg.Client;
let orgId: string;
let run = 0;

beforeAll(async () => {
  const database = await createTestDatabase();
  drop = database.drop;
  db = await openDatabase({ databaseUrl: database.url, dataDir: '/nonexistent' });
  sql = new pg.Client({ connectionString: database.url });
  await sql.connect();
  orgId = (await ensureDefaultOrganization(db.prisma)).id;
});

afterAll(async () => {
  await sql?.end();
  await db?.close();
  await drop?.();
});

/** One change between two readings of a host. */
type Change =
  | { kind: 'used' | 'log'; bytes: number }
  | { kind: 'dropVolume' | 'dropImage' }
  | { kind: 'addImage'; n: number };
const change: fc.Arbitrary<Change> = fc.oneof(
  fc.record({ kind: fc.constant('used' as const), bytes: fc.nat({ max: 1e12 }) }),
  fc.record({ kind: fc.constant('log' as const), bytes: fc.nat({ max: 1e10 }) }),
  fc.record({ kind: fc.constant('dropVolume' as const) }),
  fc.record({ kind: fc.constant('addImage' as const), n: fc.integer({ min: 1, max: 9 }) }),
  fc.record({ kind: fc.constant('dropImage' as const) }),
);

/** The agent's inventories v1..vN: each the previous one, a minute later, with one change. */
function readings(machineId: string, changes: Change[]): Inventory[] {
  const start = Date.UTC(2026, 10, 23, 8, 0);
  const out = [makeSampleInventory({ machineId, hostname: machineId, collectedAt: new Date(start) })];
  for (const [i, c] of changes.entries()) {
    const next = structuredClone(out[i] as Inventory);
    next.collectedAt = new Date(start + (i + 1) * 60_000).toISOString();
    if (c.kind === 'used' && next.filesystem) next.filesystem.usedBytes = c.bytes;
    if (c.kind === 'log') (next.containers[0] as Inventory['containers'][number]).logBytes = c.bytes;
    if (c.kind === 'dropVolume') next.volumes = next.volumes.slice(1);
    if (c.kind === 'addImage') {
      const copy = structuredClone((out[0] as Inventory).images[0] as Inventory['images'][number]);
      copy.id = `sha256:${String(c.n).repeat(64).slice(0, 64)}f${i}`;
      next.images.push(copy);
    }
    if (c.kind === 'dropImage') next.images = next.images.slice(0, -1);
    out.push(next);
  }
  return out;
}

describe('ingestReading', () => {
  it('stores exactly the reading of the stored seq, each once, whatever the delivery order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(change, { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat({ max: 20 }), { minLength: 1, maxLength: 12 }),
        async (changes, deliveryPicks) => {
          run += 1;
          const machineId = `prop-${run}`;
          const stream = `prop-stream-${run}`;
          const { hostId } = await registerHost(db.prisma, orgId, {
            machineId,
            hostname: machineId,
            agentVersion: 't',
          });
          const inventories = readings(machineId, changes);
          // Frame k (seq k) carries inventories[k-1]: a snapshot first, then deltas on the previous seq;
          // a full snapshot of a later reading too, as an agent sends after a resync.
          const frames: Reading[] = inventories.map((inventory, i) =>
            i === 0
              ? { type: 'snapshot', stream, seq: 1, inventory }
              : {
                  type: 'delta',
                  stream,
                  seq: i + 1,
                  baseSeq: i,
                  delta: diffInventories(inventories[i - 1] as Inventory, inventory),
                },
          );
          const last = inventories.length;
          const delivery = deliveryPicks.map((p) =>
            p < frames.length * 2
              ? (frames[p % frames.length] as Reading)
              : ({ type: 'snapshot', stream, seq: last, inventory: inventories[last - 1] } as Reading),
          );
          let model: { seq: number; inventory: Inventory } | null = null;
          let storedCount = 0;
          for (const reading of delivery) {
            const outcome = await ingestReading(db.prisma, orgId, hostId, reading, new Date(Date.UTC(2026, 10, 23, 9)));
            let expected: string;
            if (model && reading.seq <= model.seq) expected = 'duplicate';
            else if (reading.type === 'delta' && (!model || model.seq !== reading.baseSeq)) expected = 'resync';
            else expected = 'stored';
            expect(outcome.status).toBe(expected);
            if (expected === 'stored') {
              // The agent's own applier gives the order of each list the server must keep.
              const applied: ReturnType<typeof applyInventoryDelta> =
                reading.type === 'snapshot'
                  ? { ok: true as const, inventory: reading.inventory }
                  : applyInventoryDelta((model as { inventory: Inventory }).inventory, reading.delta);
              if (!applied.ok) throw new Error(applied.reason);
              model = { seq: reading.seq, inventory: applied.inventory };
              storedCount += 1;
            }
          }
          const { rows } = await sql.query<{ stream: string; seq: string; inventory: Inventory; samples: number }>(
            `SELECT i.stream, i.seq, ${fullInventorySql('i')} AS inventory,
                    (SELECT coalesce(sum(samples), 0)::int FROM host_usage_hourly u
                     WHERE u.org_id = i.org_id AND u.host_id = i.host_id) AS samples
             FROM host_inventories i WHERE i.org_id = $1 AND i.host_id = $2`,
            [orgId, hostId],
          );
          if (!model) {
            expect(rows).toEqual([]);
            return;
          }
          const row = rows[0];
          expect(row).toMatchObject({ stream, seq: String(model.seq), samples: storedCount });
          // The oracle is the agent's own inventory for that seq, not the applier.
          expect(inventoryByKey(row?.inventory as Inventory)).toEqual(
            inventoryByKey(inventories[model.seq - 1] as Inventory),
          );
          expect(row?.inventory).toEqual(JSON.parse(JSON.stringify(model.inventory)));
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);
});
