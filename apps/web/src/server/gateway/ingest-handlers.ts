import type { DbClient } from '@ballast/db';
import type { HostEvents } from '../events';
import { markDisconnected, recordSnapshot, registerHost, touchHost } from '../services/ingest';
import type { GatewayHandlers } from './agent-gateway';

/** Connects the gateway to storage and tells open dashboards what changed. */
export function createIngestHandlers(prisma: DbClient, events: HostEvents): GatewayHandlers {
  return {
    onHello: async ({ orgId, hostId }, hello) => {
      const registered = await registerHost(prisma, orgId, hello, new Date(), hostId);
      events.publish({ orgId, hostId: registered.hostId, reason: 'connected' });
      return registered;
    },
    onSnapshot: async (orgId, hostId, seq, inventory) => {
      await recordSnapshot(prisma, orgId, hostId, seq, inventory);
      events.publish({ orgId, hostId, reason: 'snapshot' });
    },
    onHeartbeat: (orgId, hostId) => touchHost(prisma, orgId, hostId),
    onDisconnect: async (orgId, hostId) => {
      await markDisconnected(prisma, orgId, hostId);
      events.publish({ orgId, hostId, reason: 'disconnected' });
    },
  };
}
