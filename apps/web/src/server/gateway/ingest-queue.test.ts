import { describe, expect, it } from 'vitest';
import { createIngestQueue } from './ingest-queue';

describe('ingest queue back-off', () => {
  it('promises refused agents successive slots after the queue drains, within the bounds', () => {
    const queue = createIngestQueue({ capacity: 4, concurrency: 2 });
    while (queue.admit()) {}
    expect(queue.full()).toBe(true);
    // Nothing has run yet: one reading is assumed to take 100 ms, so two a second per slot of
    // 50 ms; 4 admitted drain in 200 ms, then each refusal gets the next 50 ms slot.
    const now = 1_000_000;
    const waits = Array.from({ length: 200 }, () => queue.retryAfterSeconds(now));
    expect(waits[0]).toBe(1);
    expect(waits).toEqual([...waits].sort((a, b) => a - b));
    // 200 refusals × 50 ms after a 200 ms drain: the last one is told 10.2 s, rounded up.
    expect(waits.at(-1)).toBe(11);
    // Refusals a minute later start from the queue's state then, not from old promises.
    expect(queue.retryAfterSeconds(now + 60_000)).toBe(1);
  });

  it('never tells an agent to wait longer than the maximum', () => {
    const queue = createIngestQueue({ capacity: 1, concurrency: 1, maxRetrySeconds: 3 });
    queue.admit();
    const waits = Array.from({ length: 1_000 }, () => queue.retryAfterSeconds(5_000));
    expect(Math.max(...waits)).toBe(3);
  });

  it('spaces the waits by the rate readings actually finish at when that is faster than their duration suggests', async () => {
    const queue = createIngestQueue({ capacity: 4, concurrency: 1 });
    // Four readings of 20 ms one after another: the duration average still leans on its 100 ms
    // start (about 72 ms), the spacing of their ends is about 20 ms.
    for (let n = 0; n < 4; n++) {
      queue.admit();
      await queue.run(() => new Promise((resolve) => setTimeout(resolve, 20)));
    }
    while (queue.admit()) {}
    const now = Date.now();
    const waits = Array.from({ length: 100 }, () => queue.retryAfterSeconds(now));
    // 100 slots after 4 queued: about 2.1 s by the spacing, 7.5 s by the average.
    expect(waits.at(-1)).toBeGreaterThanOrEqual(3);
    expect(waits.at(-1)).toBeLessThanOrEqual(5);
  });
});
