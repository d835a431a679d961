// Proves, procedure by procedure, who may call what. ACCESS is the declared rule of every
// procedure; a procedure added to the router without a rule here fails the first test.
import type { Role } from '@ballast/db';
import { makeSampleInventory } from '@ballast/shared/sample-inventory';
import { DEFAULT_SAVINGS_POLICY } from '@ballast/shared/savings/index';
import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roleAtLeast, SCOPE_ROLE } from '../auth/roles';
import { newOrgSecret } from '../auth/secrets';
import { authenticateApiToken, createApiToken } from '../services/api-tokens';
import { createEnrollmentToken, enrollAgent } from '../services/enrollment';
import { recordSnapshot, registerHost } from '../services/ingest';
import { createInvitation } from '../services/invitations';
import { createWorld, type World } from '../testing/world';
import { createCallerFactory, type TrpcContext } from './init';
import { appRouter, PUBLIC_PROCEDURES } from './root';

type Rule = 'public' | 'user' | Role;

interface Seed {
  world: World;
  hostAId: string;
  tokenA: string;
  tokenAId: string;
  invitationA: { id: string; token: string };
  /** An invitation token naming org A whose secret nobody was given. */
  forgedInvitation: string;
  enrollmentTokenAId: string;
  agentAId: string;
  jobAId: string;
  campaignAId: string;
}

interface Spec {
  rule: Rule;
  /** Input naming org A's objects: a caller from elsewhere must get nothing of A from it. */
  probe?: (s: Seed) => unknown;
  /** Input a permitted caller can run without undoing the fixture (defaults to probe). */
  benign?: (s: Seed) => unknown;
}

const ACCESS: Record<string, Spec> = {
  'account.setupState': { rule: 'public' },
  'account.setup': {
    rule: 'public',
    probe: () => ({ organizationName: 'Late', name: 'Late', email: 'late@example.test', password: 'a long password' }),
  },
  'account.me': { rule: 'user' },
  'account.switchOrganization': { rule: 'user', probe: (s) => ({ orgId: s.world.orgA }) },
  'account.createOrganization': { rule: 'user', probe: () => ({ name: 'Another org' }) },
  'agent.list': { rule: 'admin' },
  'agent.revoke': { rule: 'admin', probe: (s) => ({ id: s.agentAId }), benign: () => ({ id: 'agent_missing' }) },
  'apiToken.list': { rule: 'admin' },
  'apiToken.create': { rule: 'admin', probe: () => ({ name: 'probe token', scope: 'read' }) },
  'apiToken.revoke': { rule: 'admin', probe: (s) => ({ id: s.tokenAId }), benign: () => ({ id: 'tok_missing' }) },
  'enrollmentToken.list': { rule: 'admin' },
  'enrollmentToken.create': {
    rule: 'admin',
    probe: () => ({ name: 'probe enrollment', expiresInSeconds: 3600, maxUses: 1 }),
  },
  'enrollmentToken.revoke': {
    rule: 'admin',
    probe: (s) => ({ id: s.enrollmentTokenAId }),
    benign: () => ({ id: 'enr_missing' }),
  },
  'fleet.overview': { rule: 'viewer' },
  'host.list': { rule: 'viewer' },
  'host.detail': { rule: 'viewer', probe: (s) => ({ id: s.hostAId }) },
  'image.fleet': { rule: 'viewer', probe: () => ({ search: 'app' }) },
  'image.duplicateLayers': { rule: 'viewer' },
  'image.waste': { rule: 'viewer' },
  'opportunity.list': { rule: 'viewer' },
  'opportunity.summary': { rule: 'viewer' },
  'settings.policy.get': { rule: 'admin' },
  'settings.policy.update': {
    rule: 'admin',
    probe: () => ({ ...DEFAULT_SAVINGS_POLICY, protectedImagePatterns: ['probe/*'] }),
    benign: () => DEFAULT_SAVINGS_POLICY,
  },
  'host.changes': { rule: 'viewer' },
  'invitation.preview': { rule: 'public', probe: (s) => ({ token: s.forgedInvitation }) },
  'invitation.acceptAsNewUser': {
    rule: 'public',
    probe: (s) => ({ token: s.forgedInvitation, name: 'Sneaky', password: 'a long password' }),
  },
  'invitation.accept': {
    rule: 'user',
    probe: (s) => ({ token: s.invitationA.token }),
    benign: (s) => ({ token: s.forgedInvitation }),
  },
  'invitation.list': { rule: 'admin' },
  'invitation.create': { rule: 'admin', probe: () => ({ email: 'new-person@example.test', role: 'viewer' }) },
  'invitation.revoke': {
    rule: 'admin',
    probe: (s) => ({ id: s.invitationA.id }),
    benign: () => ({ id: 'inv_missing' }),
  },
  'job.create': {
    rule: 'operator',
    probe: (s) => ({ hostId: s.hostAId, kind: 'images.pruneDangling', params: {} }),
  },
  'job.createFromOpportunity': {
    rule: 'operator',
    probe: (s) => ({ hostId: s.hostAId, opportunityKind: 'images.dangling' }),
  },
  'job.createCampaign': {
    rule: 'operator',
    probe: (s) => ({ hostIds: [s.hostAId], kind: 'images.pruneDangling', params: {} }),
  },
  'job.approve': { rule: 'operator', probe: (s) => ({ id: s.jobAId }), benign: () => ({ id: 'job_missing' }) },
  'job.approveCampaign': {
    rule: 'operator',
    probe: (s) => ({ id: s.campaignAId }),
    benign: () => ({ id: 'cmp_missing' }),
  },
  'job.cancel': { rule: 'operator', probe: (s) => ({ id: s.jobAId }), benign: () => ({ id: 'job_missing' }) },
  'job.list': { rule: 'viewer', probe: (s) => ({ hostId: s.hostAId }) },
  'job.get': { rule: 'viewer', probe: (s) => ({ id: s.jobAId }) },
  'job.campaigns': { rule: 'viewer' },
  'job.audit': { rule: 'viewer', probe: (s) => ({ hostId: s.hostAId }) },
  'job.policy.get': { rule: 'viewer' },
  'job.policy.update': {
    rule: 'admin',
    probe: () => ({ autoApproveKinds: ['images.pruneDangling'] }),
    benign: () => ({ autoApproveKinds: [] }),
  },
  'member.list': { rule: 'admin' },
  'member.updateRole': {
    rule: 'admin',
    probe: (s) => ({ userId: s.world.a.viewer.userId, role: 'admin' }),
    benign: () => ({ userId: 'usr_missing', role: 'viewer' }),
  },
  'member.remove': {
    rule: 'admin',
    probe: (s) => ({ userId: s.world.a.viewer.userId }),
    benign: () => ({ userId: 'usr_missing' }),
  },
  'organization.current': { rule: 'viewer' },
  'organization.update': { rule: 'admin', probe: () => ({ requireTwoPersonApproval: true }), benign: () => ({}) },
  'organization.auditLog': { rule: 'admin' },
  'system.status': { rule: 'viewer' },
};

const createCaller = createCallerFactory(appRouter);
/** Every procedure path of the router (flat, dotted) and its type: query, mutation or subscription. */
const procedureTypes: Record<string, unknown> = Object.fromEntries(
  Object.entries(appRouter._def.procedures).map(([path, procedure]) => [
    path,
    Reflect.get(Reflect.get(procedure, '_def'), 'type'),
  ]),
);
let seed: Seed;
let sentinels: string[];

beforeAll(async () => {
  const world = await createWorld();
  const { orgA, orgB, a } = world;
  const { hostId } = await registerHost(world.db.prisma, orgA, {
    machineId: 'machine-of-a',
    hostname: 'host-of-a',
    agentVersion: '0.1.0',
  });
  await recordSnapshot(
    world.db.prisma,
    orgA,
    hostId,
    1,
    makeSampleInventory({ machineId: 'machine-of-a', hostname: 'host-of-a' }),
  );
  await registerHost(world.db.prisma, orgB, {
    machineId: 'machine-of-b',
    hostname: 'host-of-b',
    agentVersion: '0.1.0',
  });
  const { token, apiToken } = await createApiToken(world.db.prisma, orgA, a.admin.userId, {
    name: 'ci of a',
    scope: 'admin',
  });
  const invitation = await createInvitation(world.db.prisma, orgA, a.admin.userId, {
    email: 'pending-a@example.test',
    role: 'operator',
  });
  const enrollment = await createEnrollmentToken(world.db.prisma, orgA, `user:${a.admin.userId}`, {
    name: 'rack of a',
    expiresInSeconds: 3600,
    maxUses: 5,
  });
  const agent = await enrollAgent(world.db.prisma, {
    token: enrollment.token,
    machineId: 'enrolled-machine-of-a',
    hostname: 'enrolled-host-of-a',
  });
  // A planned job of a two-host campaign in org A, made as the operator would have.
  const campaignAId = 'cmp_of_a_0000000000000000';
  const jobAId = 'job_of_a_0000000000000000';
  await world.db.prisma.campaign.create({
    data: {
      orgId: orgA,
      id: campaignAId,
      kind: 'images.pruneDangling',
      params: {},
      requestedBy: `user:${a.operator.userId}`,
    },
  });
  await world.db.prisma.job.create({
    data: {
      orgId: orgA,
      id: jobAId,
      hostId,
      kind: 'images.pruneDangling',
      params: {},
      state: 'planned',
      requestedBy: `user:${a.operator.userId}`,
      requestedByUserId: a.operator.userId,
      campaignId: campaignAId,
      deadline: new Date(Date.now() + 86_400_000),
    },
  });
  seed = {
    world,
    jobAId,
    campaignAId,
    enrollmentTokenAId: enrollment.enrollmentToken.id,
    agentAId: agent.agentId,
    hostAId: hostId,
    tokenA: token,
    tokenAId: apiToken.id,
    invitationA: { id: invitation.invitation.id, token: invitation.token },
    forgedInvitation: newOrgSecret('bli', orgA),
  };
  sentinels = [
    orgA,
    'Org A',
    'host-of-a',
    'machine-of-a',
    hostId,
    apiToken.id,
    'ci of a',
    invitation.invitation.id,
    'pending-a@example.test',
    enrollment.enrollmentToken.id,
    'rack of a',
    agent.agentId,
    'enrolled-host-of-a',
    jobAId,
    campaignAId,
    ...Object.values(a).flatMap((u) => [u.userId, u.email]),
  ];
});

afterAll(async () => {
  await seed?.world.close();
});

/** Everything org A has, to prove a refused or foreign call changed none of it. */
async function snapshotOrgA(): Promise<string> {
  const prisma = seed.world.db.prisma;
  const orgId = seed.world.orgA;
  const rows = await Promise.all([
    prisma.organization.findUnique({ where: { id: orgId } }),
    prisma.membership.findMany({ where: { orgId }, orderBy: { userId: 'asc' } }),
    prisma.invitation.findMany({ where: { orgId }, orderBy: { id: 'asc' } }),
    prisma.apiToken.findMany({ where: { orgId }, orderBy: { id: 'asc' }, omit: { lastUsedAt: true } }),
    prisma.host.findMany({ where: { orgId }, orderBy: { id: 'asc' } }),
    prisma.enrollmentToken.findMany({ where: { orgId }, orderBy: { id: 'asc' } }),
    prisma.agentCredential.findMany({ where: { orgId }, orderBy: { id: 'asc' }, omit: { lastUsedAt: true } }),
    prisma.auditEvent.count({ where: { orgId } }),
    prisma.savingsPolicy.findUnique({ where: { orgId }, omit: { updatedAt: true } }),
    prisma.hostOpportunity.count({ where: { orgId } }),
    prisma.job.findMany({ where: { orgId }, orderBy: { id: 'asc' } }),
    prisma.campaign.findMany({ where: { orgId }, orderBy: { id: 'asc' } }),
  ]);
  return JSON.stringify(rows);
}

async function call(ctx: TrpcContext, path: string, input: unknown): Promise<{ value?: unknown; error?: TRPCError }> {
  let node: unknown = createCaller(ctx);
  for (const key of path.split('.')) node = Reflect.get(node as object, key);
  if (typeof node !== 'function') throw new Error(`${path} is not callable`);
  const controller = new AbortController();
  try {
    const result: unknown = await node(input, { signal: controller.signal });
    if (procedureTypes[path] !== 'subscription') return { value: result };
    // A subscription yields nothing of other organizations: publish one of A's changes and
    // one of the caller's own, and the first event seen must not be A's.
    const iterator = (result as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    const first = iterator.next();
    seed.world.events.publish({ orgId: seed.world.orgA, hostId: 'host-of-a', reason: 'snapshot' });
    seed.world.events.publish({ orgId: seed.world.orgB, hostId: 'host-of-b', reason: 'snapshot' });
    return { value: (await first).value };
  } catch (error) {
    if (error instanceof TRPCError) return { error };
    throw error;
  } finally {
    controller.abort();
  }
}

const isAuthError = (error: TRPCError | undefined) => error?.code === 'UNAUTHORIZED' || error?.code === 'FORBIDDEN';
const inputFor = (spec: Spec, which: 'probe' | 'benign') =>
  which === 'benign' ? (spec.benign ?? spec.probe)?.(seed) : spec.probe?.(seed);

describe('access rules', () => {
  it('declares a rule for exactly the procedures the router has', () => {
    expect(Object.keys(procedureTypes).sort()).toEqual(Object.keys(ACCESS).sort());
  });

  it('lets the route handler through unauthenticated for exactly the public procedures', () => {
    const publicPaths = Object.entries(ACCESS).flatMap(([path, spec]) => (spec.rule === 'public' ? [path] : []));
    expect([...PUBLIC_PROCEDURES].sort()).toEqual(publicPaths.sort());
  });

  for (const [path, spec] of Object.entries(ACCESS)) {
    describe(`${path} (${spec.rule})`, () => {
      if (spec.rule !== 'public') {
        it('refuses anonymous callers with UNAUTHORIZED', async () => {
          const before = await snapshotOrgA();
          const { error } = await call(seed.world.context(null), path, inputFor(spec, 'probe'));
          expect(error?.code).toBe('UNAUTHORIZED');
          expect(await snapshotOrgA()).toBe(before);
        });
      } else {
        it('is open to anonymous callers', async () => {
          const { error } = await call(seed.world.context(null), path, inputFor(spec, 'benign'));
          expect(isAuthError(error)).toBe(false);
        });
      }

      if (spec.rule !== 'public' && spec.rule !== 'user') {
        const minimum = spec.rule;
        for (const role of ['viewer', 'operator', 'admin'] as const) {
          const allowed = roleAtLeast(role, minimum);
          it(`${allowed ? 'lets' : 'refuses'} an org A ${role}${allowed ? '' : ' with FORBIDDEN, changing nothing'}`, async () => {
            const before = await snapshotOrgA();
            const { error } = await call(
              seed.world.session(seed.world.a[role], seed.world.orgA),
              path,
              inputFor(spec, allowed ? 'benign' : 'probe'),
            );
            if (allowed) expect(isAuthError(error), error?.message).toBe(false);
            else {
              expect(error?.code).toBe('FORBIDDEN');
              expect(await snapshotOrgA()).toBe(before);
            }
          });
        }

        for (const scope of ['read', 'operate', 'admin'] as const) {
          const role = SCOPE_ROLE[scope];
          const allowed = roleAtLeast(role, minimum);
          it(`${allowed ? 'lets' : 'refuses'} a ${scope}-scoped API token of org A`, async () => {
            const { token } = await createApiToken(seed.world.db.prisma, seed.world.orgA, seed.world.a.admin.userId, {
              name: `${scope} token`,
              scope,
            });
            const principal = await authenticateApiToken(seed.world.db.prisma, token);
            expect(principal).not.toBeNull();
            const ctx = seed.world.context(principal && { kind: 'token', ...principal });
            const { error } = await call(ctx, path, inputFor(spec, allowed ? 'benign' : 'probe'));
            if (allowed) expect(isAuthError(error), error?.message).toBe(false);
            else expect(error?.code).toBe('FORBIDDEN');
          });
        }

        it('refuses a signed-in user who belongs to no organization', async () => {
          const { error } = await call(seed.world.session(seed.world.loner), path, inputFor(spec, 'probe'));
          expect(error?.code).toBe('FORBIDDEN');
        });
      }

      if (spec.rule === 'user') {
        it('lets every signed-in user, whatever their role, and refuses API tokens', async () => {
          // Not the loner: creating an organization would make them a member somewhere.
          for (const user of [...Object.values(seed.world.a), seed.world.bAdmin]) {
            const { error } = await call(seed.world.session(user, seed.world.orgA), path, inputFor(spec, 'benign'));
            expect(isAuthError(error), `${user.email}: ${error?.message}`).toBe(false);
          }
          const principal = await authenticateApiToken(seed.world.db.prisma, seed.tokenA);
          const { error } = await call(
            seed.world.context(principal && { kind: 'token', ...principal }),
            path,
            inputFor(spec, 'benign'),
          );
          expect(error?.code).toBe('FORBIDDEN');
        });
      }

      it('gives a caller from organization B nothing of organization A', async () => {
        const before = await snapshotOrgA();
        // B's admin even names org A as the organization to act in (a forged org cookie).
        const ctx =
          spec.rule === 'public'
            ? seed.world.context(null, seed.world.orgA)
            : seed.world.session(seed.world.bAdmin, seed.world.orgA);
        const { value, error } = await call(ctx, path, inputFor(spec, 'probe'));
        const seen = JSON.stringify({ value, message: error?.message }) ?? '';
        for (const sentinel of sentinels) expect(seen, `leaked ${sentinel}`).not.toContain(sentinel);
        expect(await snapshotOrgA()).toBe(before);
      });
    });
  }
});
