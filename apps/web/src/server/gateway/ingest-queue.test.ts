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

  it('admits beyond one per writer only while the next would be stored within the wait budget', async () => {
    const queue = createIngestQueue({ capacity: 64, concurrency: 2, maxWaitMs: 300 });
    // Before anything ran a write is assumed to take 100 ms: with 2 writers the fifth admitted
    // would be stored after (4 + 1) × 100 / 2 = 250 ms, the sixth after 300, the seventh 350.
    let admitted = 0;
    while (queue.admit()) admitted += 1;
    expect(admitted).toBe(6);
    expect(queue.full()).toBe(true);
    expect(queue.stats()).toMatchObject({ admitted: 6, capacity: 64, maxWaitMs: 300 });
    // Writes that take 10 ms pull the average down (each end moves it a tenth of the way)...
    for (let n = 0; n < 6; n++) await queue.run(() => new Promise((resolve) => setTimeout(resolve, 10)));
    const fast = queue.stats().avgMs;
    expect(fast).toBeLessThan(70);
    // ...and the budget then admits as many as n × avg / 2 ≤ 300 allows (the average is shown
    // rounded, hence the margin of one).
    admitted = 0;
    while (queue.admit()) admitted += 1;
    const expected = Math.floor((300 * 2) / fast);
    expect(admitted).toBeGreaterThan(6);
    expect(Math.abs(admitted - expected)).toBeLessThanOrEqual(1);
  });

  it('always admits one snapshot per writer, however slow the writes', async () => {
    const queue = createIngestQueue({ capacity: 64, concurrency: 3, maxWaitMs: 10 });
    let admitted = 0;
    while (queue.admit()) admitted += 1;
    expect(admitted).toBe(3);
  });
});
