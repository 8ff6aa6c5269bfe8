import { describe, expect, it } from 'vitest';
import { checkAssertions, compareBaseline, markdownSummary, parseAssertions, type BenchResult } from '../../../src/bench/report.js';

const result = (over: Partial<BenchResult> = {}): BenchResult => ({
  endpoint: 'm', protocol: 'json', mode: 'closed', concurrency: 4, batch: 1, durationS: 10, requests: 1000, throughput: 100,
  latencyMs: { p50: 5, p90: 8, p99: 20, p999: 30, max: 40, mean: 6 },
  errors: { total: 2, rate: 0.002, byStatus: { '503': 2 } },
  ...over,
});

describe('parseAssertions', () => {
  it('reads metrics, operators and units', () => {
    expect(parseAssertions('p99<50ms, throughput>1000 ,errors<0.1%,p99.9<=1s,mean<500us')).toEqual([
      { text: 'p99<50ms', metric: 'p99', op: '<', value: 50 },
      { text: 'throughput>1000', metric: 'throughput', op: '>', value: 1000 },
      { text: 'errors<0.1%', metric: 'errors', op: '<', value: 0.001 },
      { text: 'p99.9<=1s', metric: 'p99.9', op: '<=', value: 1000 },
      { text: 'mean<500us', metric: 'mean', op: '<', value: 0.5 },
    ]);
  });
  it.each(['p99', 'p42<1ms', 'throughput>5ms', 'errors<3ms', 'p99<fast'])('refuses %s with what to write', (s) => {
    expect(() => parseAssertions(s)).toThrow(/assertion|metric|take|throughput/);
  });
});

describe('checkAssertions', () => {
  it('passes and fails each gate against the measured values', () => {
    const v = checkAssertions(result(), parseAssertions('p99<50ms,p99<10ms,throughput>1000,errors<1%,errors<0.1%'));
    expect(v.map((x) => x.ok)).toEqual([true, false, false, true, false]);
    expect(v[4]).toMatchObject({ actual: 0.2, limit: 0.1, unit: '%' });
  });
});

describe('compareBaseline', () => {
  it('flags a throughput drop or p99 rise beyond the allowed regression', () => {
    const base = result();
    expect(compareBaseline(result({ throughput: 95 }), base, 0.1).every((v) => v.ok)).toBe(true);
    const worse = compareBaseline(result({ throughput: 80, latencyMs: { ...base.latencyMs, p99: 30 } }), base, 0.1);
    expect(worse.map((v) => v.ok)).toEqual([false, false]);
  });
});

describe('markdownSummary', () => {
  it('renders a table with the failed checks marked', () => {
    const md = markdownSummary(result(), checkAssertions(result(), parseAssertions('p99<10ms')));
    expect(md).toContain('| latency p99 | 20.0 ms |');
    expect(md).toContain('**FAIL**');
  });
});
