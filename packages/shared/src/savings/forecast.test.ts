import { describe, expect, it } from 'vitest';
import { forecastDiskFull, growthPerDay } from './forecast.js';

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
