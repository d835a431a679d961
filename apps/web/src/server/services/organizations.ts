import type { DbClient } from '@ballast/db';
import { newId } from '@ballast/db/ids';
import { AppError } from '../errors';
import { recordAudit } from './audit';

/**
 * The organization agents using the shared BALLAST_AGENT_TOKEN report into. Setup makes the
 * first user its admin and renames it, so agents started by `npm start` land in that user's org.
 */
export async function ensureDefaultOrganization(prisma: DbClient): Promise<{ id: string }> {
  return prisma.organization.upsert({
    where: { slug: 'default' },
    create: { id: newId('org'), slug: 'default', name: 'Default organization' },
    update: {},
    select: { id: true },
  });
}

export interface OrganizationSettings {
  id: string;
  name: string;
  requireTwoPersonApproval: boolean;
}

const settingsSelect = { id: true, name: true, requireTwoPersonApproval: true } as const;

export async function getOrganizationSettings(prisma: DbClient, orgId: string): Promise<OrganizationSettings> {
  const org = await prisma.organization.findUnique({ where: { id: orgId }, select: settingsSelect });
  if (!org) throw new AppError('NOT_FOUND', 'organization not found');
  return org;
}

export async function updateOrganizationSettings(
  prisma: DbClient,
  orgId: string,
  actor: string,
  patch: { name?: string | undefined; requireTwoPersonApproval?: boolean | undefined },
): Promise<OrganizationSettings> {
  return prisma.$transaction(async (tx) => {
    const org = await tx.organization.update({
      where: { id: orgId },
      data: {
        ...(patch.name !== undefined && { name: patch.name }),
        ...(patch.requireTwoPersonApproval !== undefined && {
          requireTwoPersonApproval: patch.requireTwoPersonApproval,
        }),
      },
      select: settingsSelect,
    });
    await recordAudit(tx, orgId, {
      actor,
      action: 'organization.settings_updated',
      target: orgId,
      details: {
        ...(patch.name !== undefined && { name: patch.name }),
        ...(patch.requireTwoPersonApproval !== undefined && {
          requireTwoPersonApproval: patch.requireTwoPersonApproval,
        }),
      },
    });
    return org;
  });
}

function slugFor(name: string): string {
  const base = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  // A random tail keeps slugs unique without a retry loop; the name is what people read.
  return `${base || 'org'}-${newId('s').slice(2, 8)}`;
}

/** A new organization whose only member, the creator, is its admin. */
export async function createOrganization(prisma: DbClient, userId: string, name: string): Promise<{ id: string }> {
  const id = newId('org');
  return prisma.$transaction(async (tx) => {
    await tx.organization.create({ data: { id, slug: slugFor(name), name }, select: { id: true } });
    await tx.membership.create({ data: { orgId: id, userId, role: 'admin' }, select: { orgId: true } });
    await recordAudit(tx, id, {
      actor: `user:${userId}`,
      action: 'organization.created',
      target: id,
      details: { name },
    });
    await recordAudit(tx, id, {
      actor: `user:${userId}`,
      action: 'member.added',
      target: `user:${userId}`,
      details: { role: 'admin' },
    });
    return { id };
  });
}

export interface UserOrganization {
  id: string;
  name: string;
  role: 'viewer' | 'operator' | 'admin';
}

export async function listUserOrganizations(prisma: DbClient, userId: string): Promise<UserOrganization[]> {
  const memberships = await prisma.membership.findMany({
    where: { userId },
    orderBy: { createdAt: 'asc' },
    select: { role: true, organization: { select: { id: true, name: true } } },
  });
  return memberships.map((m) => ({ id: m.organization.id, name: m.organization.name, role: m.role }));
}
