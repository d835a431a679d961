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
});
