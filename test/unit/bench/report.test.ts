import { describe, expect, it } from 'vitest';
import { baselineWarnings, checkAssertions, compareBaseline, markdownSummary, parseAssertions, progressText, readBaseline, type BenchResult } from '../../../src/bench/report.js';

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

describe('readBaseline', () => {
  it('reads an earlier bench --json result', () => {
    expect(readBaseline(JSON.stringify(result()), 'prev.json').throughput).toBe(100);
  });
  it('refuses what is not JSON or not a bench result, naming the path', () => {
    expect(() => readBaseline('p99 was fine', 'notes.txt')).toThrow(/^--baseline notes\.txt is not JSON/);
    expect(() => readBaseline('{"results": []}', 'x.json')).toThrow('--baseline x.json is not the output of mlserve bench --json');
    expect(() => readBaseline(JSON.stringify({ ...result(), mode: 'sideways' }), 'x.json')).toThrow(/not the output/);
    expect(() => readBaseline('null', 'x.json')).toThrow(/not the output/);
  });
});

describe('baselineWarnings', () => {
  const run = { endpoint: 'm', mode: 'closed' as const, protocol: 'json' as const, batch: 1, concurrency: 4 };
  it('is quiet for a baseline of the same mode', () => {
    expect(baselineWarnings(run, result(), 'b.json')).toEqual([]);
  });
  it('warns for another loop or load, protocol, batch or endpoint, one line each', () => {
    expect(baselineWarnings(run, result({ mode: 'open', rate: 500, concurrency: undefined }), 'b.json')).toEqual([
      'baseline b.json was measured with an open loop at 500 req/s, this run with a closed loop at concurrency 4: throughput and latency do not compare',
    ]);
    expect(baselineWarnings({ ...run, concurrency: 64 }, result(), 'b.json')[0]).toMatch(/closed loop at concurrency 4, this run with a closed loop at concurrency 64/);
    expect(baselineWarnings({ ...run, protocol: 'binary', batch: 8, endpoint: 'n' }, result(), 'b.json')).toEqual([
      'baseline b.json was measured with the json protocol, this run with binary',
      'baseline b.json was measured with 1 row(s) per request, this run with 8',
      'baseline b.json was measured on endpoint m, this run on n',
    ]);
  });
});

describe('progressText', () => {
  it('is one plain line', () => {
    const line = progressText({ elapsedMs: 5000, ok: 1000, errors: 2, p99Ms: 3.456 });
    expect(line).toBe('  5s  1000 ok  2 errors  200 req/s  p99 3.46 ms');
    expect(line).not.toMatch(/[\r\n\x1b]/);
  });
});

describe('markdownSummary warnings', () => {
  it('puts baseline warnings above the table', () => {
    expect(markdownSummary(result(), [], ['baseline b.json was measured with the json protocol, this run with binary'])).toContain('> **Warning:** baseline b.json');
  });
});
