import type { DbClient } from '@ballast/db';
import type { HostEvents } from '../events';
import { ingestReading, markDisconnected, registerHost, touchHost } from '../services/ingest';
import type { GatewayHandlers } from './agent-gateway';

/** Connects the gateway to storage and tells open dashboards what changed. */
export function createIngestHandlers(prisma: DbClient, events: HostEvents): GatewayHandlers {
  return {
    onHello: async ({ orgId, hostId }, hello) => {
      const registered = await registerHost(prisma, orgId, hello, new Date(), hostId);
      events.publish({ orgId, hostId: registered.hostId, reason: 'connected' });
      return registered;
    },
    onReading: async (orgId, hostId, reading) => {
      const outcome = await ingestReading(prisma, orgId, hostId, reading);
      if (outcome.status === 'stored') events.publish({ orgId, hostId, reason: 'snapshot' });
      return outcome;
    },
    onHeartbeat: (orgId, hostId) => touchHost(prisma, orgId, hostId),
    onDisconnect: async (orgId, hostId) => {
      await markDisconnected(prisma, orgId, hostId);
      events.publish({ orgId, hostId, reason: 'disconnected' });
    },
  };
}
