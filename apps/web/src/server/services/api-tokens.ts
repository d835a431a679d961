import type { ApiTokenScope, DbClient, Role } from '@ballast/db';
import { newId } from '@ballast/db/ids';
import { SCOPE_ROLE } from '../auth/roles';
import { newOrgSecret, parseOrgSecret } from '../auth/secrets';
import { AppError } from '../errors';
import { recordAudit } from './audit';

export interface ApiTokenSummary {
  id: string;
  name: string;
  scope: ApiTokenScope;
  hint: string;
  createdByUserId: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

// Never tokenHash: not even the hash leaves the server.
const summarySelect = {
  id: true,
  name: true,
  scope: true,
  hint: true,
  createdByUserId: true,
  createdAt: true,
  lastUsedAt: true,
  revokedAt: true,
} as const;

/** Returns the token itself exactly once; only its SHA-256 is stored. */
export async function createApiToken(
  prisma: DbClient,
  orgId: string,
  createdByUserId: string,
  input: { name: string; scope: ApiTokenScope },
  actor = `user:${createdByUserId}`,
): Promise<{ apiToken: ApiTokenSummary; token: string }> {
  const token = newOrgSecret('blt', orgId);
  const parsed = parseOrgSecret('blt', token);
  if (!parsed) throw new Error('generated API token does not parse');
  return prisma.$transaction(async (tx) => {
    const apiToken = await tx.apiToken.create({
      data: {
        orgId,
        id: newId('tok'),
        name: input.name,
        scope: input.scope,
        tokenHash: parsed.hash,
        hint: `blt_…${token.slice(-4)}`,
        createdByUserId,
      },
      select: summarySelect,
    });
    await recordAudit(tx, orgId, {
      actor,
      action: 'api_token.created',
      target: apiToken.id,
      details: { name: input.name, scope: input.scope },
    });
    return { apiToken, token };
  });
}

export async function listApiTokens(prisma: DbClient, orgId: string): Promise<ApiTokenSummary[]> {
  return prisma.apiToken.findMany({ where: { orgId }, orderBy: { createdAt: 'desc' }, select: summarySelect });
}

export async function revokeApiToken(prisma: DbClient, orgId: string, actor: string, id: string): Promise<void> {
  await prisma.$transaction(async (tx) => {
    const { count } = await tx.apiToken.updateMany({
      where: { orgId, id, revokedAt: null },
      data: { revokedAt: new Date() },
    });
    if (count === 0) throw new AppError('NOT_FOUND', 'no such active token');
    await recordAudit(tx, orgId, { actor, action: 'api_token.revoked', target: id });
  });
}

export interface ApiTokenPrincipal {
  orgId: string;
  tokenId: string;
  role: Role;
  createdByUserId: string;
}

// Recording every use would write a row per API call; a minute's precision is enough to tell
// a token in use from a forgotten one.
const LAST_USED_PRECISION_MS = 60_000;

/** The organization and role a presented token acts with, or null for anything not valid now. */
export async function authenticateApiToken(
  prisma: DbClient,
  presented: string,
  now = new Date(),
): Promise<ApiTokenPrincipal | null> {
  const parsed = parseOrgSecret('blt', presented);
  if (!parsed) return null;
  const token = await prisma.apiToken.findUnique({
    where: { orgId_tokenHash: { orgId: parsed.orgId, tokenHash: parsed.hash } },
    select: { id: true, scope: true, createdByUserId: true, revokedAt: true, lastUsedAt: true },
  });
  if (!token || token.revokedAt) return null;
  if (!token.lastUsedAt || now.getTime() - token.lastUsedAt.getTime() >= LAST_USED_PRECISION_MS) {
    await prisma.apiToken.updateMany({
      where: { orgId: parsed.orgId, id: token.id },
      data: { lastUsedAt: now },
    });
  }
  return {
    orgId: parsed.orgId,
    tokenId: token.id,
    role: SCOPE_ROLE[token.scope],
    createdByUserId: token.createdByUserId,
  };
}
