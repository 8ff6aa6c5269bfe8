// mlserve top: percentiles from histogram deltas, and frames rendered with ink-testing-library.
import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import { Top } from '../../../src/cli/tui/Top.js';
import { columnWidths, frame, quantileFromBuckets, rows, sparkline } from '../../../src/cli/tui/view.js';
import type { Snapshot } from '../../../src/daemon/snapshot.js';

const LE = [0.001, 0.002, 0.005, Infinity];
const snap = (t: number, requests: number, counts: number[], extra: Partial<Snapshot> = {}): Snapshot => ({
  t,
  daemon: { pid: 42, version: '0.1.0', startedAt: 0, url: 'http://127.0.0.1:8000' },
  deployments: [{
    name: 'demo-v1', endpoint: 'demo', version: '1', state: 'ready', message: null, canaryWeight: 0,
    replicas: [{ idx: 0, pid: 100, state: 'ready', restarts: 2, inflight: 3, gpu: '0:0.33' }],
    requests, errors: requests / 100, batches: requests / 4, batchedRequests: requests, queued: 5, inflight: 3,
    latency: { le: LE, counts },
  }],
  gpus: [{ index: 0, name: 'A100-80GB', allocated: 0.33, memoryUsedMiB: 1024, memoryTotalMiB: 81920, simulated: true }],
  events: [{ ts: t, kind: 'scaled', subject: 'demo-v1', message: 'replicas 1 -> 2' }],
  ...extra,
});

describe('quantileFromBuckets', () => {
  it('interpolates inside the bucket that holds the rank, over the delta only', () => {
    // 100 new requests: 50 under 1 ms, 40 in (1, 2], 10 in (2, 5].
    expect(quantileFromBuckets(LE, [10, 10, 10, 10], [60, 100, 110, 110], 0.5)).toBeCloseTo(0.001, 6);
    expect(quantileFromBuckets(LE, [10, 10, 10, 10], [60, 100, 110, 110], 0.99)).toBeCloseTo(0.0047, 4);
    expect(quantileFromBuckets(LE, [1, 1, 1, 1], [1, 1, 1, 1], 0.5)).toBeNull();
  });
  it('draws sparklines', () => {
    expect(sparkline([0, 5, 10])).toBe('▁▄█');
    expect(sparkline([])).toBe('');
  });
});

describe('top frames', () => {
  const a = snap(1000, 1000, [500, 900, 1000, 1000]);
  const b = snap(2000, 2000, [1000, 1800, 2000, 2000]);

  it('shows req/s, p50/p99, error rate, batch size, queue and replicas from two snapshots', () => {
    const [r] = rows(a, b, new Map());
    expect(r.rps).toBe(1000);
    expect(r.p50Ms).toBeCloseTo(1, 3);
    expect(r.p99Ms).toBeCloseTo(4.7, 1);
    expect(r.errorPct).toBeCloseTo(1);
    expect(r.meanBatch).toBe(4);
    const { lastFrame } = render(<Top prev={a} cur={b} history={new Map([['demo-v1', [10, 500]]])} />);
    const text = lastFrame()!;
    expect(text).toMatch(/>demo-v1 \(demo\)\s+1\s+0%\s+1\/1\s+1000\s+1\.00\s+4\.70\s+1\.0\s+4\.0\s+5/);
    expect(text).toMatch(/0\s+100\s+ready\s+2\s+3\s+0:0\.33/);
    expect(text).toContain('GPU 0 A100-80GB (simulated): 33% allocated, 1/80 GiB used');
    expect(text).toContain('replicas 1 -> 2');
  });

  it('fits 80 columns and says what to do when nothing is deployed', () => {
    for (const line of frame(a, b, new Map(), { width: 80, height: 24, selected: 0, showEvents: false })) expect(line.length).toBeLessThanOrEqual(80);
    const empty = snap(0, 0, [0, 0, 0, 0], { deployments: [], gpus: [], events: [] });
    const { lastFrame } = render(<Top prev={null} cur={empty} history={new Map()} />);
    expect(lastFrame()).toContain('nothing deployed: try mlserve deploy');
  });
});

/** A busy daemon: n deployments with two replicas each, two GPUs, a long event log. */
function busy(t: number, n: number): Snapshot {
  const base = snap(t, t, [t / 2, t, t, t]);
  const d0 = base.deployments[0];
  return {
    ...base,
    deployments: Array.from({ length: n }, (_, i) => ({
      ...d0, name: `m${i}-v1`, endpoint: `m${i}`,
      replicas: [0, 1].map((idx) => ({ ...d0.replicas[0], idx, pid: 100 + idx })),
    })),
    gpus: [0, 1].map((index) => ({ ...base.gpus[0], index })),
    events: Array.from({ length: 30 }, (_, i) => ({ ts: t, kind: 'scaled', subject: `m${i % n}-v1`, message: `event ${i}` })),
  };
}

describe('top fits the terminal (so Ink redraws in place instead of clearing the screen)', () => {
  const a = busy(1000, 7);
  const b = busy(2000, 7);

  it('7 deployments at 80x24: fewer lines than rows, none wider than 80, every deployment listed', () => {
    const { lastFrame } = render(<Top prev={a} cur={b} history={new Map()} size={{ columns: 80, rows: 24 }} />);
    const lines = lastFrame()!.split('\n');
    expect(lines.length).toBeLessThanOrEqual(23);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
    for (let i = 0; i < 7; i++) expect(lastFrame()).toContain(`m${i}-v1 (m${i})`);
    expect(lastFrame()).toContain('EVENTS');
    expect(lastFrame()).toContain('q quit');
  });

  it.each([[80, 24], [80, 14], [120, 40], [100, 10], [80, 8], [200, 60]])('at %dx%d for 1, 7 and 40 deployments, with and without more events', (cols, rowsN) => {
    for (const n of [1, 7, 40]) {
      for (const showEvents of [false, true]) {
        const lines = frame(busy(1000, n), busy(2000, n), new Map(), { width: cols, height: rowsN, selected: n - 1, showEvents, notice: n === 40 ? 'the daemon restarted' : undefined });
        expect(lines.length, `${n} at ${cols}x${rowsN}`).toBeLessThan(rowsN);
        for (const l of lines) expect(l.length).toBeLessThanOrEqual(cols);
        // The selected deployment stays in view when the list scrolls.
        expect(lines.some((l) => l.startsWith(`>m${n - 1}-v1`))).toBe(true);
      }
    }
  });

  it('scrolls a long list around the selected deployment and says which part shows', () => {
    const lines = frame(busy(1000, 40), busy(2000, 40), new Map(), { width: 80, height: 24, selected: 20, showEvents: false });
    expect(lines).toContainEqual(expect.stringMatching(/^deployments \d+-\d+ of 40 \(↑\/↓ scrolls\)/));
    expect(lines.some((l) => l.startsWith('>m20-v1'))).toBe(true);
  });

  it('e shows as many events as fit; a taller terminal shows more of everything', () => {
    const few = frame(a, b, new Map(), { width: 80, height: 40, selected: 0, showEvents: false });
    const more = frame(a, b, new Map(), { width: 80, height: 40, selected: 0, showEvents: true });
    const count = (ls: string[]) => ls.filter((l) => / scaled {10}/.test(l)).length;
    expect(count(few)).toBe(4);
    expect(count(more)).toBeGreaterThan(4);
    expect(more.length).toBeLessThanOrEqual(39);
  });

  it('widens the trend sparkline with the terminal', () => {
    expect(columnWidths(80)).toEqual({ name: 18, trend: 6 });
    expect(columnWidths(120).trend).toBeGreaterThan(20);
    const history = new Map([['m0-v1', Array.from({ length: 100 }, (_, i) => i)]]);
    const wide = frame(a, b, history, { width: 160, height: 30, selected: 0, showEvents: false });
    const row = wide.find((l) => l.startsWith('>m0-v1'))!;
    expect(row.length).toBeLessThanOrEqual(160);
    expect(/[▁▂▃▄▅▆▇█]+\s*$/.exec(row)![0].trim().length).toBe(columnWidths(160).trend);
  });

  it('says when the daemon stopped or restarted, above the last frame', () => {
    const { lastFrame } = render(<Top prev={a} cur={b} history={new Map()} notice="12:00:01 the daemon is not running; reconnecting every second (q quits)…" size={{ columns: 80, rows: 24 }} />);
    expect(lastFrame()!.split('\n')[0]).toContain('the daemon is not running; reconnecting');
    expect(lastFrame()!.split('\n').length).toBeLessThanOrEqual(23);
  });
});
