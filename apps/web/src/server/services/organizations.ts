import { type DbClient, newId } from '@ballast/db';

/** The organization a single-tenant install runs in until accounts exist. */
export async function ensureDefaultOrganization(prisma: DbClient): Promise<{ id: string }> {
  return prisma.organization.upsert({
    where: { slug: 'default' },
    create: { id: newId('org'), slug: 'default', name: 'Default organization' },
    update: {},
    select: { id: true },
  });
}
