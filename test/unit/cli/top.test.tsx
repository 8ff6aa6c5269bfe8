// mlserve top: percentiles from histogram deltas, and frames rendered with ink-testing-library.
import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import { Top } from '../../../src/cli/tui/Top.js';
import { frame, quantileFromBuckets, rows, sparkline } from '../../../src/cli/tui/view.js';
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
