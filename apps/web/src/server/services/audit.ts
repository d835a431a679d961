import type { DbClient, DbTransaction } from '@ballast/db';
import { newId } from '@ballast/db/ids';

/** Who did something: `user:<id>`, `token:<id>` (API token) or `system`. */
export type Actor = string;

export interface AuditEntry {
  actor: Actor;
  action: string;
  target?: string;
  details?: Record<string, string | number | boolean | null>;
}

/** Pass the transaction that makes the change, so the change and its audit row commit together. */
export async function recordAudit(db: DbClient | DbTransaction, orgId: string, entry: AuditEntry): Promise<void> {
  await db.auditEvent.create({
    data: {
      orgId,
      id: newId('audit'),
      actor: entry.actor,
      action: entry.action,
      target: entry.target ?? null,
      details: entry.details ?? {},
    },
    select: { id: true },
  });
}

/**
 * Account events (sign-in, sign-out) happen outside any organization; each organization the
 * user belongs to gets a row, since each one's admins answer for who reached its data.
 */
export async function recordUserAudit(
  prisma: DbClient,
  userId: string,
  entry: Omit<AuditEntry, 'actor'>,
): Promise<number> {
  const memberships = await prisma.membership.findMany({ where: { userId }, select: { orgId: true } });
  if (memberships.length === 0) return 0;
  await prisma.auditEvent.createMany({
    data: memberships.map(({ orgId }) => ({
      orgId,
      id: newId('audit'),
      actor: `user:${userId}`,
      action: entry.action,
      target: entry.target ?? null,
      details: entry.details ?? {},
    })),
  });
  return memberships.length;
}

export async function listAuditEvents(prisma: DbClient, orgId: string, limit: number) {
  return prisma.auditEvent.findMany({
    where: { orgId },
    orderBy: [{ at: 'desc' }, { id: 'desc' }],
    take: limit,
    select: { id: true, at: true, actor: true, action: true, target: true, details: true },
  });
}
