import type { DbClient, Role } from '@ballast/db';
import { newId } from '@ballast/db/ids';
import { newOrgSecret, parseOrgSecret } from '../auth/secrets';
import { AppError } from '../errors';
import { recordAudit } from './audit';

const INVITATION_TTL_MS = 7 * 24 * 3600 * 1000;

export interface PendingInvitation {
  id: string;
  email: string;
  role: Role;
  createdAt: Date;
  expiresAt: Date;
}

const pendingSelect = { id: true, email: true, role: true, createdAt: true, expiresAt: true } as const;

export const normalizeEmail = (email: string) => email.trim().toLowerCase();

/** Returns the invitation and its secret; the secret is in the link only, never stored. */
export async function createInvitation(
  prisma: DbClient,
  orgId: string,
  invitedByUserId: string,
  input: { email: string; role: Role },
  now = new Date(),
): Promise<{ invitation: PendingInvitation; token: string }> {
  const email = normalizeEmail(input.email);
  const token = newOrgSecret('bli', orgId);
  const parsed = parseOrgSecret('bli', token);
  if (!parsed) throw new Error('generated invitation token does not parse');
  return prisma.$transaction(async (tx) => {
    const member = await tx.membership.findFirst({ where: { orgId, user: { email } }, select: { userId: true } });
    if (member) throw new AppError('CONFLICT', `${email} is already a member`);
    // A new invitation to the same address replaces the previous one.
    await tx.invitation.updateMany({
      where: { orgId, email, acceptedAt: null, revokedAt: null },
      data: { revokedAt: now },
    });
    const invitation = await tx.invitation.create({
      data: {
        orgId,
        id: newId('inv'),
        email,
        role: input.role,
        tokenHash: parsed.hash,
        invitedByUserId,
        expiresAt: new Date(now.getTime() + INVITATION_TTL_MS),
      },
      select: pendingSelect,
    });
    await recordAudit(tx, orgId, {
      actor: `user:${invitedByUserId}`,
      action: 'invitation.created',
      target: invitation.id,
      details: { email, role: input.role },
    });
    return { invitation, token };
  });
}

export async function listPendingInvitations(prisma: DbClient, orgId: string, now = new Date()) {
  return prisma.invitation.findMany({
    where: { orgId, acceptedAt: null, revokedAt: null, expiresAt: { gt: now } },
    orderBy: { createdAt: 'desc' },
    select: pendingSelect,
  });
}

export async function revokeInvitation(prisma: DbClient, orgId: string, actor: string, id: string): Promise<void> {
  await prisma.$transaction(async (tx) => {
    const { count } = await tx.invitation.updateMany({
      where: { orgId, id, acceptedAt: null, revokedAt: null },
      data: { revokedAt: new Date() },
    });
    if (count === 0) throw new AppError('NOT_FOUND', 'no such pending invitation');
    await recordAudit(tx, orgId, { actor, action: 'invitation.revoked', target: id });
  });
}

export interface InvitationPreview {
  organizationName: string;
  email: string;
  role: Role;
  /** True when an account with this email exists: sign in to accept instead of signing up. */
  accountExists: boolean;
}

/** What an invitation link offers, for the sign-up page; unusable links all look the same. */
export async function previewInvitation(prisma: DbClient, token: string, now = new Date()): Promise<InvitationPreview> {
  const parsed = parseOrgSecret('bli', token);
  const invitation = parsed
    ? await prisma.invitation.findUnique({
        where: { orgId_tokenHash: { orgId: parsed.orgId, tokenHash: parsed.hash } },
        select: {
          email: true,
          role: true,
          expiresAt: true,
          acceptedAt: true,
          revokedAt: true,
          organization: { select: { name: true } },
        },
      })
    : null;
  if (!invitation || invitation.acceptedAt || invitation.revokedAt || invitation.expiresAt <= now) {
    throw new AppError('NOT_FOUND', 'this invitation link is invalid, expired or already used');
  }
  const account = await prisma.user.findUnique({ where: { email: invitation.email }, select: { id: true } });
  return {
    organizationName: invitation.organization.name,
    email: invitation.email,
    role: invitation.role,
    accountExists: account !== null,
  };
}

/**
 * Joins the user to the invitation's organization. Single use: the invitation is consumed in
 * the same transaction that adds the membership. The user's email must be the invited one.
 */
export async function acceptInvitation(
  prisma: DbClient,
  token: string,
  user: { id: string; email: string },
  now = new Date(),
): Promise<{ orgId: string; role: Role }> {
  const parsed = parseOrgSecret('bli', token);
  if (!parsed) throw new AppError('NOT_FOUND', 'this invitation link is invalid, expired or already used');
  const { orgId, hash } = parsed;
  return prisma.$transaction(async (tx) => {
    const invitation = await tx.invitation.findUnique({
      where: { orgId_tokenHash: { orgId, tokenHash: hash } },
      select: { id: true, email: true, role: true },
    });
    const { count } = await tx.invitation.updateMany({
      where: { orgId, tokenHash: hash, acceptedAt: null, revokedAt: null, expiresAt: { gt: now } },
      data: { acceptedAt: now },
    });
    if (!invitation || count === 0) {
      throw new AppError('NOT_FOUND', 'this invitation link is invalid, expired or already used');
    }
    if (invitation.email !== normalizeEmail(user.email)) {
      throw new AppError('FORBIDDEN', 'this invitation is for a different email address');
    }
    const existing = await tx.membership.findUnique({
      where: { orgId_userId: { orgId, userId: user.id } },
      select: { role: true },
    });
    if (existing) throw new AppError('CONFLICT', 'you are already a member of this organization');
    await tx.membership.create({ data: { orgId, userId: user.id, role: invitation.role }, select: { orgId: true } });
    await recordAudit(tx, orgId, {
      actor: `user:${user.id}`,
      action: 'member.added',
      target: `user:${user.id}`,
      details: { role: invitation.role, invitation: invitation.id },
    });
    return { orgId, role: invitation.role };
  });
}
