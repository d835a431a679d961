import type { DbClient, DbTransaction, Role } from '@ballast/db';
import { AppError } from '../errors';
import { recordAudit } from './audit';

export interface Member {
  userId: string;
  name: string;
  email: string;
  role: Role;
  joinedAt: Date;
}

export async function listMembers(prisma: DbClient, orgId: string): Promise<Member[]> {
  const rows = await prisma.membership.findMany({
    where: { orgId },
    orderBy: { createdAt: 'asc' },
    select: { role: true, createdAt: true, user: { select: { id: true, name: true, email: true } } },
  });
  return rows.map((r) => ({
    userId: r.user.id,
    name: r.user.name,
    email: r.user.email,
    role: r.role,
    joinedAt: r.createdAt,
  }));
}

/** An organization must keep an admin, or nobody could manage its members again. */
async function assertAnotherAdmin(tx: DbTransaction, orgId: string, leavingUserId: string): Promise<void> {
  const admins = await tx.membership.count({ where: { orgId, role: 'admin', userId: { not: leavingUserId } } });
  if (admins === 0) throw new AppError('CONFLICT', 'an organization needs at least one admin');
}

async function lockMembers(tx: DbTransaction, orgId: string): Promise<void> {
  // Serializes role changes and removals in one organization, so two admins demoting each
  // other at once cannot leave it without an admin.
  await tx.$queryRaw`SELECT id FROM organizations WHERE id = ${orgId} FOR UPDATE`;
}

export async function changeMemberRole(
  prisma: DbClient,
  orgId: string,
  actor: string,
  input: { userId: string; role: Role },
): Promise<Member> {
  return prisma.$transaction(async (tx) => {
    await lockMembers(tx, orgId);
    const current = await tx.membership.findUnique({
      where: { orgId_userId: { orgId, userId: input.userId } },
      select: { role: true },
    });
    if (!current) throw new AppError('NOT_FOUND', 'no such member');
    if (current.role === 'admin' && input.role !== 'admin') await assertAnotherAdmin(tx, orgId, input.userId);
    const row = await tx.membership.update({
      where: { orgId_userId: { orgId, userId: input.userId } },
      data: { role: input.role },
      select: { role: true, createdAt: true, user: { select: { id: true, name: true, email: true } } },
    });
    await recordAudit(tx, orgId, {
      actor,
      action: 'member.role_changed',
      target: `user:${input.userId}`,
      details: { from: current.role, to: input.role },
    });
    return { userId: row.user.id, name: row.user.name, email: row.user.email, role: row.role, joinedAt: row.createdAt };
  });
}

export async function removeMember(prisma: DbClient, orgId: string, actor: string, userId: string): Promise<void> {
  await prisma.$transaction(async (tx) => {
    await lockMembers(tx, orgId);
    const current = await tx.membership.findUnique({
      where: { orgId_userId: { orgId, userId } },
      select: { role: true },
    });
    if (!current) throw new AppError('NOT_FOUND', 'no such member');
    if (current.role === 'admin') await assertAnotherAdmin(tx, orgId, userId);
    await tx.membership.delete({ where: { orgId_userId: { orgId, userId } }, select: { orgId: true } });
    await recordAudit(tx, orgId, {
      actor,
      action: 'member.removed',
      target: `user:${userId}`,
      details: { role: current.role },
    });
  });
}
