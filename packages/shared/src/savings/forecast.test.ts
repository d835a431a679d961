import { describe, expect, it } from 'vitest';
import { forecastDiskFull, growthByCategory, growthPerDay, rankActionsByDaysBought } from './forecast.js';

const day = (n: number) => new Date(Date.UTC(2026, 0, 1) + n * 86_400_000);

describe('forecastDiskFull', () => {
  it('extrapolates a steady growth to the day the disk is full', () => {
    const history = [0, 1, 2, 3].map((n) => ({ at: day(n), usedBytes: 100 + n * 10, sizeBytes: 200 }));
    const forecast = forecastDiskFull(history);
    expect(forecast.growthBytesPerDay).toBeCloseTo(10);
    expect(forecast.daysUntilFull).toBeCloseTo(7);
    expect(forecast.fullAt?.toISOString()).toBe(day(10).toISOString());
  });

  it('gives no date when usage is flat, shrinking or history is too short', () => {
    expect(
      forecastDiskFull([0, 1].map((n) => ({ at: day(n), usedBytes: 100, sizeBytes: 200 }))).daysUntilFull,
    ).toBeNull();
    expect(
      forecastDiskFull([0, 1].map((n) => ({ at: day(n), usedBytes: 100 - n, sizeBytes: 200 }))).daysUntilFull,
    ).toBeNull();
    expect(forecastDiskFull([{ at: day(0), usedBytes: 1, sizeBytes: 2 }]).daysUntilFull).toBeNull();
    expect(
      growthPerDay([
        { at: day(0), bytes: 1 },
        { at: new Date(day(0).getTime() + 60_000), bytes: 5 },
      ]),
    ).toBeNull();
  });
});

describe('growthByCategory', () => {
  it('fits each category and puts what the categories do not explain in otherBytes', () => {
    const history = [0, 1, 2, 3].map((n) => ({
      at: day(n),
      usedBytes: 1000 + n * 100,
      imagesBytes: 300 + n * 50,
      containersBytes: 10,
      containerLogsBytes: 20 + n * 30,
      volumesBytes: 5,
      buildCacheBytes: 40 - n * 10,
    }));
    const growth = growthByCategory(history);
    expect(growth.imagesBytes).toBeCloseTo(50);
    expect(growth.containersBytes).toBeCloseTo(0);
    expect(growth.containerLogsBytes).toBeCloseTo(30);
    expect(growth.buildCacheBytes).toBeCloseTo(-10);
    // 100 per day in all: 50 + 30 - 10 from Docker, 30 from elsewhere on the disk.
    expect(growth.otherBytes).toBeCloseTo(30);
  });
});

describe('rankActionsByDaysBought', () => {
  const opportunities = [
    {
      kind: 'images.unused',
      title: 'u',
      risk: 'medium',
      reclaimableBytes: 900,
      action: { kind: 'images.pruneUnused' },
    },
    {
      kind: 'images.dangling',
      title: 'd',
      risk: 'low',
      reclaimableBytes: 200,
      action: { kind: 'images.pruneDangling' },
    },
    {
      kind: 'buildCache.reclaimable',
      title: 'b',
      risk: 'low',
      reclaimableBytes: 300,
      action: { kind: 'buildCache.prune' },
    },
    { kind: 'volumes.unused', title: 'v', risk: 'high', reclaimableBytes: 5000, action: null },
  ];

  it('proposes the lowest-risk action that frees the most, in days of growth', () => {
    const { actions, best } = rankActionsByDaysBought(opportunities, 100);
    expect(actions.map((a) => [a.kind, a.daysBought])).toEqual([
      ['buildCache.reclaimable', 3],
      ['images.dangling', 2],
      ['images.unused', 9],
    ]);
    expect(best?.kind).toBe('buildCache.reclaimable');
  });

  it('gives no days when the disk is not growing and nothing when there is no action', () => {
    expect(rankActionsByDaysBought(opportunities, 0).actions.every((a) => a.daysBought === null)).toBe(true);
    expect(rankActionsByDaysBought([opportunities[3] as (typeof opportunities)[number]], 10).best).toBeNull();
  });
});
