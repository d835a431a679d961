import type { DbClient } from '@ballast/db';
import { AppError } from '../errors';
import { recordAudit } from './audit';
import { ensureDefaultOrganization } from './organizations';

/** A fresh install has no user: the first visit creates its admin. */
export async function needsSetup(prisma: DbClient): Promise<boolean> {
  return (await prisma.user.findFirst({ select: { id: true } })) === null;
}

/**
 * Makes the user admin of the install's default organization (the one shared-token agents
 * report into) and gives it its real name. Fails when another setup got there first.
 */
export async function claimDefaultOrganization(
  prisma: DbClient,
  input: { userId: string; organizationName: string },
): Promise<{ orgId: string }> {
  const orgId = (await ensureDefaultOrganization(prisma)).id;
  return prisma.$transaction(async (tx) => {
    // Two setups racing serialize on this row lock; the second then sees the first's membership.
    await tx.$queryRaw`SELECT id FROM organizations WHERE id = ${orgId} FOR UPDATE`;
    const existing = await tx.membership.findFirst({ where: { orgId }, select: { userId: true } });
    if (existing) throw new AppError('CONFLICT', 'setup is already complete: sign in instead');
    await tx.organization.update({
      where: { id: orgId },
      data: { name: input.organizationName },
      select: { id: true },
    });
    await tx.membership.create({ data: { orgId, userId: input.userId, role: 'admin' }, select: { orgId: true } });
    const actor = `user:${input.userId}`;
    await recordAudit(tx, orgId, { actor, action: 'setup.completed', details: { name: input.organizationName } });
    await recordAudit(tx, orgId, { actor, action: 'member.added', target: actor, details: { role: 'admin' } });
    return { orgId };
  });
}
