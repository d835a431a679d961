import { createHash, randomBytes } from 'node:crypto';

export const sha256Hex = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex');

/**
 * Secrets handed out (`blt_…` API tokens, `bli_…` invitation links, `ble_…` enrollment tokens,
 * `bla_…` agent credentials) carry their organization's id, so the hash lookup is tenant-first
 * like every other key of tenant data. The secret part is 256 random bits.
 */
export type OrgSecretPrefix = 'blt' | 'bli' | 'ble' | 'bla';

export function newOrgSecret(prefix: OrgSecretPrefix, orgId: string): string {
  const orgPart = orgId.replace(/^org_/, '');
  return `${prefix}_${orgPart}_${randomBytes(32).toString('base64url')}`;
}

export function parseOrgSecret(prefix: OrgSecretPrefix, secret: string): { orgId: string; hash: string } | null {
  const match = new RegExp(`^${prefix}_([0-9a-z]{1,64})_([A-Za-z0-9_-]{43})$`).exec(secret);
  if (!match) return null;
  return { orgId: `org_${match[1]}`, hash: sha256Hex(secret) };
}
