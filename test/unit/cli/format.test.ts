import { describe, expect, it } from 'vitest';
import { formatAge, formatBytes, parseSize, table } from '../../../src/cli/format.js';

describe('format', () => {
  it('parses sizes', () => {
    expect(parseSize('64mb')).toBe(64 * 1024 * 1024);
    expect(parseSize('512KB')).toBe(512 * 1024);
    expect(parseSize('100')).toBe(100);
    expect(() => parseSize('lots')).toThrow(/not a size/);
  });
  it('formats bytes and ages', () => {
    expect(formatBytes(10)).toBe('10 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatAge(90_000)).toBe('1m');
  });
  it('fits tables into 80 columns', () => {
    const t = table(['A', 'B'], [['x'.repeat(100), 'short']]);
    for (const line of t.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    expect(t).toContain('…');
  });
});
