import { type Database, openDatabase } from '@ballast/db';
import { createTestDatabase } from '@ballast/db/test/pg';
import { makeSampleInventory } from '@ballast/shared/sample-inventory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostEvents } from '../events';
import { recordSnapshot, registerHost } from '../services/ingest';
import { ensureDefaultOrganization } from '../services/organizations';
import { createCallerFactory } from './init';
import { appRouter } from './root';

let db: Database;
let drop: () => Promise<void>;
const events = new HostEvents();
const createCaller = createCallerFactory(appRouter);

beforeAll(async () => {
  const database = await createTestDatabase();
  drop = database.drop;
  db = await openDatabase({ databaseUrl: database.url, dataDir: '/nonexistent' });
});

afterAll(async () => {
  await db?.close();
  await drop?.();
});

const callerFor = (orgId: string) =>
  createCaller({ prisma: db.prisma, events, orgId, connectedAgents: () => 0, embeddedDatabase: false });

describe('appRouter', () => {
  it('lists the hosts of the caller organization with their latest totals', async () => {
    const orgId = (await ensureDefaultOrganization(db.prisma)).id;
    const { hostId } = await registerHost(db.prisma, orgId, {
      machineId: 'm-router',
      hostname: 'router-host',
      agentVersion: '0.1.0',
    });
    await recordSnapshot(
      db.prisma,
      orgId,
      hostId,
      1,
      makeSampleInventory({ machineId: 'm-router', hostname: 'router-host' }),
    );

    const hosts = await callerFor(orgId).host.list();
    expect(hosts).toHaveLength(1);
    expect(hosts[0]).toMatchObject({ hostname: 'router-host', latest: { imagesBytes: 3_000_000, volumeCount: 1 } });
    expect(await callerFor('org_nobody').host.list()).toEqual([]);
  });

  it('streams changes of the caller organization only', async () => {
    const stream = await callerFor('org_a').host.changes();
    const iterator = stream[Symbol.asyncIterator]();
    const first = iterator.next();
    events.publish({ orgId: 'org_b', hostId: 'host_other', reason: 'snapshot' });
    events.publish({ orgId: 'org_a', hostId: 'host_mine', reason: 'snapshot' });
    expect((await first).value).toEqual({ hostId: 'host_mine', reason: 'snapshot' });
    await iterator.return?.();
  });

  it('reports system status', async () => {
    expect(await callerFor('org_a').system.status()).toEqual({ connectedAgents: 0, embeddedDatabase: false });
  });
});
