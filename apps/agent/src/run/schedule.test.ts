import { describe, expect, it } from 'vitest';
import { slowPassDelay } from './schedule.js';

describe('slowPassDelay', () => {
  const minute = 60_000;
  const slow = 10 * minute;

  it('starts the slow pass halfway between two readings', () => {
    // Readings at 0, 60 s, 120 s, …: the pass that was due with the reading at 600 s goes at 570 s.
    expect(slowPassDelay(0, slow, minute, minute)).toBe(slow - minute / 2);
    // Its end, 3 s later, is 27 s before a reading: the next pass lands at 1,170 s, between
    // the readings at 1,140 s and 1,200 s.
    const now = slow - minute / 2 + 3_000;
    expect(now + slowPassDelay(now, slow, minute, slow)).toBe(2 * slow - minute / 2);
  });

  it('moves the cadence by at most half an interval', () => {
    for (const offset of [0, 1, 12_345, 29_999, 30_000, 30_001, 59_999]) {
      const now = 1_000_000;
      const delay = slowPassDelay(now, slow, minute, now + offset);
      expect(Math.abs(delay - slow)).toBeLessThanOrEqual(minute / 2);
      // Always halfway: half an interval from the readings either side.
      const fromReading = (((now + delay - (now + offset)) % minute) + minute) % minute;
      expect(fromReading).toBe(minute / 2);
    }
  });

  it('keeps the cadence without a reading scheduled or with an interval longer than it', () => {
    expect(slowPassDelay(0, slow, minute, null)).toBe(slow);
    expect(slowPassDelay(0, slow, 2 * slow, 5_000)).toBe(slow);
  });
});
