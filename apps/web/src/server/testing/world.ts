import { type Database, openDatabase, type Role } from '@ballast/db';
import { createTestDatabase } from '@ballast/db/test/pg';
import { type AccountGateway, betterAuthAccounts } from '../auth/accounts';
import { type Auth, createAuth } from '../auth/better-auth';
import { HostEvents } from '../events';
import { createLogger, type Logger } from '../log';
import { acceptInvitation, createInvitation } from '../services/invitations';
import { createOrganization } from '../services/organizations';
import { claimDefaultOrganization } from '../services/setup';
import type { Principal, TrpcContext } from '../trpc/init';

export interface TestUser {
  userId: string;
  email: string;
  name: string;
  password: string;
}

/**
 * A database with two organizations: A (the default one, made by setup) with an admin, an
 * operator and a viewer, and B with its own admin. Real better-auth on the real database.
 */
export interface World {
  db: Database;
  auth: Auth;
  accounts: AccountGateway;
  events: HostEvents;
  orgA: string;
  orgB: string;
  a: Record<Role, TestUser>;
  bAdmin: TestUser;
  /** A user in no organization at all. */
  loner: TestUser;
  /** Agent ids the procedures asked the gateway to disconnect. */
  disconnected: string[];
  context(principal: Principal | null, requestedOrgId?: string | null): TrpcContext & { cookies: string[] };
  session(user: TestUser, requestedOrgId?: string | null): TrpcContext & { cookies: string[] };
  close(): Promise<void>;
}

export const silentLog = createLogger('error');
export const TEST_PASSWORD = 'correct horse battery staple';

export async function createWorld(options: { signInAttemptsPerMinute?: number; log?: Logger } = {}): Promise<World> {
  const database = await createTestDatabase();
  const db = await openDatabase({ databaseUrl: database.url, dataDir: '/nonexistent' });
  const auth = createAuth({
    prisma: db.prisma,
    secret: 'test-secret-test-secret-test-secret-0123456789',
    baseUrl: 'http://127.0.0.1:3000',
    secureCookies: false,
    log: options.log ?? silentLog,
    ...(options.signInAttemptsPerMinute !== undefined && { signInAttemptsPerMinute: options.signInAttemptsPerMinute }),
  });
  const accounts = betterAuthAccounts(auth, db.prisma);
  const events = new HostEvents();

  const newUser = async (tag: string): Promise<TestUser> => {
    const email = `${tag}@example.test`;
    const name = `User ${tag}`;
    const { userId } = await accounts.createUser({ name, email, password: TEST_PASSWORD });
    return { userId, email, name, password: TEST_PASSWORD };
  };
  const invite = async (orgId: string, by: TestUser, user: TestUser, role: Role) => {
    const { token } = await createInvitation(db.prisma, orgId, by.userId, { email: user.email, role });
    await acceptInvitation(db.prisma, token, { id: user.userId, email: user.email });
  };

  const aAdmin = await newUser('a-admin');
  const { orgId: orgA } = await claimDefaultOrganization(db.prisma, {
    userId: aAdmin.userId,
    organizationName: 'Org A',
  });
  const aOperator = await newUser('a-operator');
  const aViewer = await newUser('a-viewer');
  await invite(orgA, aAdmin, aOperator, 'operator');
  await invite(orgA, aAdmin, aViewer, 'viewer');
  const bAdmin = await newUser('b-admin');
  const { id: orgB } = await createOrganization(db.prisma, bAdmin.userId, 'Org B');
  const loner = await newUser('loner');

  const disconnected: string[] = [];
  const context = (principal: Principal | null, requestedOrgId: string | null = null) => {
    const cookies: string[] = [];
    return {
      prisma: db.prisma,
      events,
      embeddedDatabase: false,
      principal,
      requestedOrgId,
      accounts,
      appUrl: 'http://ballast.test',
      log: silentLog,
      setCookie: (cookie: string) => void cookies.push(cookie),
      disconnectAgent: (agentId: string) => {
        disconnected.push(agentId);
        return false;
      },
      cookies,
    };
  };
  return {
    db,
    auth,
    accounts,
    events,
    disconnected,
    orgA,
    orgB,
    a: { admin: aAdmin, operator: aOperator, viewer: aViewer },
    bAdmin,
    loner,
    context,
    session: (user, requestedOrgId = null) =>
      context({ kind: 'session', userId: user.userId, email: user.email, name: user.name }, requestedOrgId),
    close: async () => {
      await db.close();
      await database.drop();
    },
  };
}
