import type { DbClient } from '@ballast/db';
import type { AccountGateway } from './auth/accounts';
import type { Auth } from './auth/better-auth';
import type { HostEvents } from './events';
import type { Logger } from './log';

/** Live state shared by the custom server and Next's route handlers (separate module graphs). */
export interface ServerRuntime {
  prisma: DbClient;
  events: HostEvents;
  embeddedDatabase: boolean;
  defaultOrgId: string;
  connectedAgents(): number;
  /** Closes an enrolled agent's live socket held by this process; see AgentGateway.disconnectAgent. */
  disconnectAgent(agentId: string, reason: string): boolean;
  auth: Auth;
  accounts: AccountGateway;
  log: Logger;
  /** BALLAST_PUBLIC_URL when set. */
  publicUrl: string | undefined;
  /** Cookies are always Secure (BALLAST_PUBLIC_URL is https). */
  secureCookies: boolean;
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
