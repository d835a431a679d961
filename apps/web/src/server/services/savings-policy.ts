import type { DbClient } from '@ballast/db';
import { ADVICE_KINDS } from '@ballast/shared/savings/kinds';
import { DEFAULT_SAVINGS_POLICY, type SavingsPolicy, ZSavingsPolicy } from '@ballast/shared/savings/policy';
import { recordAudit } from './audit';

/** The organization's policy, or the defaults when none was saved. */
export async function getSavingsPolicy(prisma: DbClient, orgId: string): Promise<SavingsPolicy> {
  const row = await prisma.savingsPolicy.findUnique({ where: { orgId }, select: { policy: true } });
  return parseSavingsPolicy(row?.policy);
}

/** A stored policy document, or the defaults when there is none or it does not parse. */
export function parseSavingsPolicy(document: unknown): SavingsPolicy {
  if (document === undefined || document === null) return DEFAULT_SAVINGS_POLICY;
  // A stored document predating a newer field gets that field's default instead of failing.
  const parsed = ZSavingsPolicy.safeParse(document);
  return parsed.success ? parsed.data : DEFAULT_SAVINGS_POLICY;
}

/**
 * Saves the policy and writes the audit row in one transaction. The stored costs follow the
 * new price at once (one UPDATE, the same formula as monthlyCost); which objects qualify
 * depends on the inventories, so that follows at each host's next reading (its opportunities
 * are marked for recomputation).
 */
export async function updateSavingsPolicy(
  prisma: DbClient,
  orgId: string,
  actor: string,
  policy: SavingsPolicy,
): Promise<SavingsPolicy> {
  const document = ZSavingsPolicy.parse(policy);
  await prisma.$transaction(async (tx) => {
    await tx.savingsPolicy.upsert({
      where: { orgId },
      create: { orgId, policy: document },
      update: { policy: document },
      select: { orgId: true },
    });
    // Each host at its group's price (by the group label), else the default: priceForHost in SQL.
    await tx.$executeRaw`
      UPDATE host_opportunities AS o
      SET monthly_cost = (o.reclaimable_bytes::float8 / 1e9)
                         * coalesce((${JSON.stringify(document.groupPrices)}::jsonb ->> (h.labels ->> ${document.groupLabel}))::float8,
                                    ${document.pricePerGbMonth}::float8)
      FROM hosts AS h
      WHERE o.org_id = ${orgId} AND h.org_id = o.org_id AND h.id = o.host_id`;
    await tx.$executeRaw`
      UPDATE host_inventories AS i
      SET reclaimable_monthly_cost = coalesce(sums.cost, 0), opportunities_at = NULL
      FROM host_inventories AS hi
      LEFT JOIN (SELECT host_id, sum(monthly_cost) AS cost FROM host_opportunities
                 WHERE org_id = ${orgId} AND NOT (kind = ANY(${[...ADVICE_KINDS]}::text[])) GROUP BY host_id) AS sums
        ON sums.host_id = hi.host_id
      WHERE i.org_id = ${orgId} AND hi.org_id = i.org_id AND hi.host_id = i.host_id`;
    await recordAudit(tx, orgId, {
      actor,
      action: 'savings.policy.update',
      details: {
        pricePerGbMonth: document.pricePerGbMonth,
        groupLabel: document.groupLabel,
        groupPrices: Object.keys(document.groupPrices).length,
        protectedImagePatterns: document.protectedImagePatterns.length,
        protectedLabels: document.protectedLabels.length,
      },
    });
  });
  return document;
}
