import { describe, expect, it } from 'vitest';
import { newId } from './ids.js';

describe('newId', () => {
  it('prefixes 24 random base32 characters', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newId('host')));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^host_[0-9a-hjkmnp-tv-z]{24}$/);
  });

  it('rejects prefixes that would make ambiguous ids', () => {
    expect(() => newId('')).toThrow();
    expect(() => newId('Host')).toThrow();
    expect(() => newId('org_x')).toThrow();
  });
});
