import { describe, expect, it } from 'vitest';
import { backoffDelay, RECONNECT_BACKOFF } from './backoff.js';

describe('backoffDelay', () => {
  it('doubles from 1 s up to 60 s, with up to half of each delay random', () => {
    const low = (attempt: number) => backoffDelay(attempt, RECONNECT_BACKOFF, () => 0);
    const high = (attempt: number) => backoffDelay(attempt, RECONNECT_BACKOFF, () => 1);
    expect([0, 1, 2, 3].map(high)).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect([0, 1, 2, 3].map(low)).toEqual([500, 1_000, 2_000, 4_000]);
    expect(high(6)).toBe(60_000);
    expect(high(50)).toBe(60_000);
    expect(low(50)).toBe(30_000);
  });
});
