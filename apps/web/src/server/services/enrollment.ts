import type { DbClient } from '@ballast/db';
import { newId } from '@ballast/db/ids';
import { newOrgSecret, parseOrgSecret } from '../auth/secrets';
import { AppError } from '../errors';
import { recordAudit } from './audit';

/** Why an enrollment was refused; the gateway maps these to HTTP 401 and 410. */
export class EnrollmentRefused extends Error {
  override name = 'EnrollmentRefused';
  constructor(
    readonly reason: 'invalid_token' | 'token_expired' | 'token_revoked' | 'token_used_up',
    message: string,
  ) {
    super(message);
  }
}

export interface EnrollmentTokenSummary {
  id: string;
  name: string;
  expiresAt: Date;
  maxUses: number;
  uses: number;
  revokedAt: Date | null;
  createdBy: string;
  createdAt: Date;
}

// Never tokenHash: not even the hash leaves the server.
const tokenSelect = {
  id: true,
  name: true,
  expiresAt: true,
  maxUses: true,
  uses: true,
  revokedAt: true,
  createdBy: true,
  createdAt: true,
} as const;

/** Returns the token itself exactly once; only its SHA-256 is stored. */
export async function createEnrollmentToken(
  prisma: DbClient,
  orgId: string,
  actor: string,
  input: { name: string; expiresInSeconds: number; maxUses: number },
  now = new Date(),
): Promise<{ enrollmentToken: EnrollmentTokenSummary; token: string }> {
  const token = newOrgSecret('ble', orgId);
  const parsed = parseOrgSecret('ble', token);
  if (!parsed) throw new Error('generated enrollment token does not parse');
  return prisma.$transaction(async (tx) => {
    const enrollmentToken = await tx.enrollmentToken.create({
      data: {
        orgId,
        id: newId('enr'),
        name: input.name,
        tokenHash: parsed.hash,
        expiresAt: new Date(now.getTime() + input.expiresInSeconds * 1000),
        maxUses: input.maxUses,
        createdBy: actor,
      },
      select: tokenSelect,
    });
    await recordAudit(tx, orgId, {
      actor,
      action: 'enrollment_token.created',
      target: enrollmentToken.id,
      details: { name: input.name, maxUses: input.maxUses, expiresAt: enrollmentToken.expiresAt.toISOString() },
    });
    return { enrollmentToken, token };
  });
}

export function listEnrollmentTokens(prisma: DbClient, orgId: string): Promise<EnrollmentTokenSummary[]> {
  return prisma.enrollmentToken.findMany({ where: { orgId }, orderBy: { createdAt: 'desc' }, select: tokenSelect });
}

export async function revokeEnrollmentToken(prisma: DbClient, orgId: string, actor: string, id: string) {
  await prisma.$transaction(async (tx) => {
    const { count } = await tx.enrollmentToken.updateMany({
      where: { orgId, id, revokedAt: null },
      data: { revokedAt: new Date() },
    });
    if (count === 0) throw new AppError('NOT_FOUND', 'no such active enrollment token');
    await recordAudit(tx, orgId, { actor, action: 'enrollment_token.revoked', target: id });
  });
}

export interface EnrollmentResult {
  agentId: string;
  hostId: string;
  credential: string;
  cloneOf: string | null;
}

/**
 * Exchanges an enrollment token for a new agent credential.
 *
 * Host identity is the machine ID, so reinstalling the agent keeps the host and its history.
 * Clone rule: if a host with this machine ID still has an active (unrevoked) credential, the
 * newcomer is a different machine carrying a copied ID (a cloned VM image), so it gets a NEW
 * host marked `cloneOf` the existing one, and neither overwrites the other's inventory. If
 * every credential of that host was revoked (or it never had one), this is a reinstall: the
 * same host gets a new credential.
 */
export async function enrollAgent(
  prisma: DbClient,
  input: { token: string; machineId: string; hostname: string },
  now = new Date(),
): Promise<EnrollmentResult> {
  const parsed = parseOrgSecret('ble', input.token);
  if (!parsed) throw new EnrollmentRefused('invalid_token', 'enrollment token is not valid');
  const { orgId } = parsed;
  return prisma.$transaction(async (tx) => {
    const token = await tx.enrollmentToken.findUnique({
      where: { orgId_tokenHash: { orgId, tokenHash: parsed.hash } },
      select: { id: true, expiresAt: true, maxUses: true, revokedAt: true },
    });
    if (!token) throw new EnrollmentRefused('invalid_token', 'enrollment token is not valid');
    if (token.revokedAt) throw new EnrollmentRefused('token_revoked', 'enrollment token was revoked');
    if (token.expiresAt <= now) throw new EnrollmentRefused('token_expired', 'enrollment token has expired');
    // The use is counted with a guarded update, so concurrent enrollments cannot exceed maxUses.
    const { count } = await tx.enrollmentToken.updateMany({
      where: { orgId, id: token.id, revokedAt: null, uses: { lt: token.maxUses } },
      data: { uses: { increment: 1 } },
    });
    if (count === 0) throw new EnrollmentRefused('token_used_up', 'enrollment token has no uses left');

    const sameMachine = await tx.host.findMany({
      where: { orgId, machineId: input.machineId },
      orderBy: { firstSeenAt: 'asc' },
      select: { id: true, cloneOf: true, credentials: { where: { revokedAt: null }, select: { id: true } } },
    });
    const holder = sameMachine.find((host) => host.credentials.length > 0);
    let hostId: string;
    let cloneOf: string | null = null;
    if (holder) {
      cloneOf = holder.cloneOf ?? holder.id;
      hostId = newId('host');
      await tx.host.create({
        data: { orgId, id: hostId, machineId: input.machineId, hostname: input.hostname, cloneOf, firstSeenAt: now },
        select: { id: true },
      });
    } else {
      const reinstalled = sameMachine.find((host) => host.cloneOf === null) ?? sameMachine[0];
      hostId = reinstalled?.id ?? newId('host');
      if (!reinstalled) {
        await tx.host.create({
          data: { orgId, id: hostId, machineId: input.machineId, hostname: input.hostname, firstSeenAt: now },
          select: { id: true },
        });
      }
    }

    const credential = newOrgSecret('bla', orgId);
    const credentialHash = parseOrgSecret('bla', credential)?.hash;
    if (!credentialHash) throw new Error('generated agent credential does not parse');
    const agentId = newId('agent');
    await tx.agentCredential.create({
      data: { orgId, id: agentId, hostId, credentialHash, createdAt: now },
      select: { id: true },
    });
    await recordAudit(tx, orgId, {
      actor: `enrollment_token:${token.id}`,
      action: cloneOf ? 'agent.enrolled_as_clone' : 'agent.enrolled',
      target: agentId,
      details: { hostId, machineId: input.machineId, hostname: input.hostname, cloneOf },
    });
    return { agentId, hostId, credential, cloneOf };
  });
}

export interface AgentCredentialPrincipal {
  orgId: string;
  agentId: string;
  hostId: string;
}

// Recording every connection is cheap, but a reconnect storm should not become a write storm.
const LAST_USED_PRECISION_MS = 60_000;

/** The agent a presented credential belongs to, or null for anything not valid now. */
export async function authenticateAgentCredential(
  prisma: DbClient,
  presented: string,
  now = new Date(),
): Promise<AgentCredentialPrincipal | null> {
  const parsed = parseOrgSecret('bla', presented);
  if (!parsed) return null;
  const credential = await prisma.agentCredential.findUnique({
    where: { orgId_credentialHash: { orgId: parsed.orgId, credentialHash: parsed.hash } },
    select: { id: true, hostId: true, revokedAt: true, lastUsedAt: true },
  });
  if (!credential || credential.revokedAt) return null;
  if (!credential.lastUsedAt || now.getTime() - credential.lastUsedAt.getTime() >= LAST_USED_PRECISION_MS) {
    await prisma.agentCredential.updateMany({
      where: { orgId: parsed.orgId, id: credential.id },
      data: { lastUsedAt: now },
    });
  }
  return { orgId: parsed.orgId, agentId: credential.id, hostId: credential.hostId };
}

export interface AgentSummary {
  id: string;
  hostId: string;
  hostname: string;
  machineId: string;
  cloneOf: string | null;
  connected: boolean;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export async function listAgents(prisma: DbClient, orgId: string): Promise<AgentSummary[]> {
  const rows = await prisma.agentCredential.findMany({
    where: { orgId },
    orderBy: { createdAt: 'desc' },
    select: {
      id: true,
      hostId: true,
      createdAt: true,
      lastUsedAt: true,
      revokedAt: true,
      host: { select: { hostname: true, machineId: true, cloneOf: true, connected: true } },
    },
  });
  return rows.map(({ host, ...row }) => ({ ...row, ...host }));
}

/** Marks the credential revoked; the caller disconnects the live socket, if any. */
export async function revokeAgentCredential(prisma: DbClient, orgId: string, actor: string, agentId: string) {
  await prisma.$transaction(async (tx) => {
    const { count } = await tx.agentCredential.updateMany({
      where: { orgId, id: agentId, revokedAt: null },
      data: { revokedAt: new Date() },
    });
    if (count === 0) throw new AppError('NOT_FOUND', 'no such active agent');
    await recordAudit(tx, orgId, { actor, action: 'agent.revoked', target: agentId });
  });
}
