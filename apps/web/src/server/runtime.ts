import type { DbClient } from '@ballast/db';
import type { HostEvents } from './events';

/** Live state shared by the custom server and Next's route handlers (separate module graphs). */
export interface ServerRuntime {
  prisma: DbClient;
  events: HostEvents;
  embeddedDatabase: boolean;
  defaultOrgId: string;
  connectedAgents(): number;
}

declare global {
  var __ballastRuntime: ServerRuntime | undefined;
}

export function setRuntime(runtime: ServerRuntime): void {
  globalThis.__ballastRuntime = runtime;
}

export function getRuntime(): ServerRuntime {
  const runtime = globalThis.__ballastRuntime;
  if (!runtime) throw new Error('server runtime is not initialised (start the app with server.ts)');
  return runtime;
}
