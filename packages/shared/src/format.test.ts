import { describe, expect, it } from 'vitest';
import { formatBytes, formatBytesDecimal } from './format.js';

describe('formatBytesDecimal', () => {
  it('matches docker system df output for fixture figures', () => {
    expect(formatBytesDecimal(22206179)).toBe('22.21MB');
    expect(formatBytesDecimal(4020849)).toBe('4.021MB');
    expect(formatBytesDecimal(1982256)).toBe('1.982MB');
    expect(formatBytesDecimal(0)).toBe('0B');
  });
});

describe('formatBytes', () => {
  it('uses binary units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1024)).toBe('1.0 KiB');
    expect(formatBytes(8 * 1024 * 1024)).toBe('8.0 MiB');
    expect(formatBytes(150 * 1024 ** 3)).toBe('150 GiB');
  });
});
