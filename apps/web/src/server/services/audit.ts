import type { DbClient, DbTransaction, Prisma } from '@ballast/db';
import { newId } from '@ballast/db/ids';
import { JOB_KINDS } from '@ballast/shared/jobs';
import { z } from 'zod';

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

export const ZAuditListInput = z
  .object({
    /** `user:<id>`, `token:<id>`, `agent:<hostId>`, `system` or `policy:auto-approve`. */
    actor: z.string().min(1).max(128).optional(),
    hostId: z.string().min(1).max(64).optional(),
    kind: z.enum(JOB_KINDS).optional(),
    from: z.coerce.date().optional(),
    to: z.coerce.date().optional(),
    limit: z.number().int().min(1).max(10_000).default(200),
  })
  .default({ limit: 200 });
export type AuditListInput = z.infer<typeof ZAuditListInput>;

/**
 * Remediation audit rows (jobs and campaigns), newest first. Host and kind live in the row's
 * details, written by the same transaction as the job's change.
 */
export async function listJobAudit(prisma: DbClient, orgId: string, input: AuditListInput) {
  const details: Prisma.AuditEventWhereInput[] = [];
  if (input.hostId) details.push({ details: { path: ['hostId'], equals: input.hostId } });
  if (input.kind) details.push({ details: { path: ['kind'], equals: input.kind } });
  const rows = await prisma.auditEvent.findMany({
    where: {
      orgId,
      OR: [
        { action: { startsWith: 'job.' } },
        { action: { startsWith: 'campaign.' } },
        { action: { startsWith: 'jobs.' } },
      ],
      ...(input.actor && { actor: input.actor }),
      ...((input.from || input.to) && {
        at: { ...(input.from && { gte: input.from }), ...(input.to && { lt: input.to }) },
      }),
      ...(details.length > 0 && { AND: details }),
    },
    orderBy: [{ at: 'desc' }, { id: 'desc' }],
    take: input.limit,
    select: { id: true, at: true, actor: true, action: true, target: true, details: true },
  });
  const names = await actorNames(
    prisma,
    orgId,
    rows.map((r) => r.actor),
  );
  return rows.map((row) => ({
    ...row,
    actorName: names.get(row.actor) ?? row.actor,
    details: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))
      .catch({})
      .parse(row.details),
  }));
}
export type JobAuditRow = Awaited<ReturnType<typeof listJobAudit>>[number];

/** `user:<id>` → the user's email, `token:<id>` → the token's name, for people reading the log. */
export async function actorNames(prisma: DbClient, orgId: string, actors: string[]): Promise<Map<string, string>> {
  const userIds = [...new Set(actors.filter((a) => a.startsWith('user:')).map((a) => a.slice(5)))];
  const tokenIds = [...new Set(actors.filter((a) => a.startsWith('token:')).map((a) => a.slice(6)))];
  const [users, tokens] = await Promise.all([
    userIds.length
      ? prisma.user.findMany({
          where: { id: { in: userIds }, memberships: { some: { orgId } } },
          select: { id: true, email: true },
        })
      : [],
    tokenIds.length
      ? prisma.apiToken.findMany({ where: { orgId, id: { in: tokenIds } }, select: { id: true, name: true } })
      : [],
  ]);
  const names = new Map<string, string>();
  for (const u of users) names.set(`user:${u.id}`, u.email);
  for (const t of tokens) names.set(`token:${t.id}`, `API token ${t.name}`);
  return names;
}
