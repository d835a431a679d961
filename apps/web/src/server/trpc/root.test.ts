import { makeSampleInventory } from '@ballast/shared/sample-inventory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticateAgentCredential, enrollAgent } from '../services/enrollment';
import { recordSnapshot, registerHost } from '../services/ingest';
import { createWorld, type World } from '../testing/world';
import { createCallerFactory } from './init';
import { appRouter } from './root';

let world: World;
const createCaller = createCallerFactory(appRouter);

beforeAll(async () => {
  world = await createWorld();
});

afterAll(async () => {
  await world?.close();
});

describe('appRouter', () => {
  it('lists the hosts of the caller organization with their latest totals', async () => {
    const { hostId } = await registerHost(world.db.prisma, world.orgA, {
      machineId: 'm-router',
      hostname: 'router-host',
      agentVersion: '0.1.0',
    });
    await recordSnapshot(
      world.db.prisma,
      world.orgA,
      hostId,
      1,
      makeSampleInventory({ machineId: 'm-router', hostname: 'router-host' }),
    );

    const hosts = await createCaller(world.session(world.a.viewer)).host.list();
    expect(hosts).toHaveLength(1);
    expect(hosts[0]).toMatchObject({ hostname: 'router-host', latest: { imagesBytes: 3_000_000, volumeCount: 1 } });
    expect(await createCaller(world.session(world.bAdmin)).host.list()).toEqual([]);
  });

  it('streams changes of the caller organization only', async () => {
    const stream = await createCaller(world.session(world.a.viewer)).host.changes();
    const iterator = stream[Symbol.asyncIterator]();
    const first = iterator.next();
    world.events.publish({ orgId: world.orgB, hostId: 'host_other', reason: 'snapshot' });
    world.events.publish({ orgId: world.orgA, hostId: 'host_mine', reason: 'snapshot' });
    expect((await first).value).toEqual({ hostId: 'host_mine', reason: 'snapshot' });
    await iterator.return?.();
  });

  it('reports system status with the organization’s own connected agents', async () => {
    expect(await createCaller(world.session(world.bAdmin)).system.status()).toEqual({
      connectedAgents: 0,
      embeddedDatabase: false,
    });
  });

  it('creates an enrollment token once, and revoking an agent refuses it and disconnects it', async () => {
    const admin = createCaller(world.session(world.a.admin));
    const { token, enrollmentToken } = await admin.enrollmentToken.create({
      name: 'rack 1',
      expiresInSeconds: 3600,
      maxUses: 2,
    });
    expect(token).toMatch(/^ble_/);
    const listed = await admin.enrollmentToken.list();
    expect(listed.find((t) => t.id === enrollmentToken.id)).toMatchObject({ uses: 0, maxUses: 2, revokedAt: null });
    expect(JSON.stringify(listed)).not.toContain('tokenHash');

    const enrolled = await enrollAgent(world.db.prisma, { token, machineId: 'root-test-m', hostname: 'root-test' });
    expect(await admin.agent.list()).toEqual([
      expect.objectContaining({ id: enrolled.agentId, hostname: 'root-test', revokedAt: null }),
    ]);
    await admin.agent.revoke({ id: enrolled.agentId });
    expect(world.disconnected).toContain(enrolled.agentId);
    expect(await authenticateAgentCredential(world.db.prisma, enrolled.credential)).toBeNull();
    await expect(admin.agent.revoke({ id: enrolled.agentId })).rejects.toThrow(/no such active agent/);
  });
});
