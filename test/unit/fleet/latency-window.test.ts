// The request latencies the daemon keeps for a deployment's latency SLO (Metrics.keepLatencies):
// recorded from what the ingress observes, only while a revision of it asks, answered requests only.
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/daemon/metrics.js';

const metrics = () => new Metrics({ runtimes: () => [], restarts: () => new Map(), daemonStarts: () => 0, canaryWeights: () => new Map(), gpus: () => [] });
const labels = (deployment: string) => ({ endpoint: 'e', deployment, version: '1' });

describe('Metrics: latencies kept for target_p99_ms', () => {
  it('keeps answered requests of the deployments a revision asked for, in ms, with a performance.now() time', () => {
    const m = metrics();
    m.observeRequest(labels('a-v1'), 200, 0.5); // before anyone asked: not kept
    m.keepLatencies('a-v1', 'r1', true);
    const before = performance.now() / 1000;
    m.observeRequest(labels('a-v1'), 200, 0.25);
    m.observeRequest(labels('a-v1'), 503, 0.01); // refused: not a latency
    m.observeRequest(labels('a-v1'), 499, 9); // the client left
    m.observeRequest(labels('b-v1'), 200, 0.1); // another deployment, not asked for
    const kept = m.latencies('a-v1');
    expect(kept.map((x) => x.ms)).toEqual([250]);
    expect(kept[0].t).toBeGreaterThanOrEqual(before);
    expect(kept[0].t).toBeLessThanOrEqual(performance.now() / 1000);
    expect(m.latencies('b-v1')).toEqual([]);
  });

  it('stops once no revision of the deployment asks (a new revision asking keeps them through the old one\'s stop)', () => {
    const m = metrics();
    m.keepLatencies('a-v1', 'old', true);
    m.keepLatencies('a-v1', 'new', true);
    m.keepLatencies('a-v1', 'old', false);
    m.observeRequest(labels('a-v1'), 200, 0.1);
    expect(m.latencies('a-v1')).toHaveLength(1);
    m.keepLatencies('a-v1', 'new', false);
    expect(m.latencies('a-v1')).toEqual([]);
    m.observeRequest(labels('a-v1'), 200, 0.1);
    expect(m.latencies('a-v1')).toEqual([]);
  });

  it('holds at most the newest 20 000', () => {
    const m = metrics();
    m.keepLatencies('a-v1', 'r', true);
    for (let i = 0; i < 20_005; i++) m.observeRequest(labels('a-v1'), 200, i / 1000);
    const kept = m.latencies('a-v1');
    expect(kept).toHaveLength(20_000);
    expect(kept[0].ms).toBeCloseTo(5);
  });
});
