import { randomBytes } from 'node:crypto';

// Crockford's base32 (no i, l, o, u): unambiguous when read aloud or retyped, and 32 divides
// 256, so masking a random byte keeps every character uniform.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const LENGTH = 24; // 120 bits

/** A new id such as `host_7d3kq…`: the prefix names the entity, the rest is random. */
export function newId(prefix: string): string {
  if (!/^[a-z][a-z0-9]*$/.test(prefix)) throw new Error(`Invalid id prefix ${JSON.stringify(prefix)}`);
  let suffix = '';
  for (const byte of randomBytes(LENGTH)) suffix += ALPHABET[byte & 31];
  return `${prefix}_${suffix}`;
}
