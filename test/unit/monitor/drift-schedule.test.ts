// Scheduled drift reports: the schedule as the control API takes it (table), and the scheduler on
// real capture files: gauges per endpoint, events when dataset drift starts, a failed run said once,
// and removing one schedule's series leaves the others'.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import client from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DriftScheduler, parseSchedule, type DriftSchedule } from '../../../src/daemon/monitor/drift-schedule.js';
import { rng, writeCaptureFile } from '../../helpers/capture.js';

describe('parseSchedule', () => {
  it.each([
    [{ reference: 'train.csv', every: '10m' }, /needs --reference, the path/],
    [{ reference: '/t.csv', every: '10m', window: '1y' }, /--window 1y is not a duration/],
    [{ reference: '/t.csv', every: 'often' }, /--every often is not a duration/],
    [{ reference: '/t.csv', every: '30s' }, /under a minute/],
  ])('%j is refused', (body, re) => expect(() => parseSchedule('iris', body)).toThrow(re));

  it('defaults the window to an hour', () => {
    expect(parseSchedule('iris', { reference: '/t.csv', every: '10m', target: 'label' })).toEqual({ endpoint: 'iris', reference: '/t.csv', windowMs: 3_600_000, everyMs: 600_000, target: 'label' });
  });
});

describe('the scheduler', () => {
  it('exports gauges, tells when drift starts, says a failure once, and forgets one endpoint only', async () => {
    const home = mkdtempSync(join(tmpdir(), 'mlserve-drift-sched-'));
    const r = rng(3);
    const ref = join(home, 'train.csv');
    writeFileSync(ref, ['a,b', ...Array.from({ length: 300 }, () => `${r.normal(0, 1).toFixed(4)},${r.normal(5, 1).toFixed(4)}`)].join('\n'));
    const now = Date.now();
    const ts = Array.from({ length: 200 }, (_, i) => now - 60_000 + i);
    writeCaptureFile(home, 'shifted', { timestamps: ts, inputs: { a: ts.map(() => r.normal(2, 1)), b: ts.map(() => r.normal(7, 1)) } });
    writeCaptureFile(home, 'steady', { timestamps: ts, inputs: { a: ts.map(() => r.normal(0, 1)), b: ts.map(() => r.normal(5, 1)) } });
    const registry = new client.Registry();
    const events: Array<[string, string]> = [];
    const schedules: DriftSchedule[] = ['shifted', 'steady', 'nothing'].map((endpoint) => ({ endpoint, reference: ref, windowMs: 3_600_000, everyMs: 600_000 }));
    const s = new DriftScheduler({ home, registry, load: () => schedules, event: (kind, subject) => events.push([kind, subject]) });
    await s.tick();
    const text = await registry.metrics();
    expect(text).toMatch(/mlserve_dataset_drift\{endpoint="shifted"\} 1/);
    expect(text).toMatch(/mlserve_dataset_drift\{endpoint="steady"\} 0/);
    expect(text).toMatch(/mlserve_feature_drift\{endpoint="shifted",feature="a",metric="psi"\} \d/);
    expect(text).toMatch(/mlserve_feature_drift\{endpoint="steady",feature="b",metric="ks_pvalue"\} 0\.\d/);
    expect(events).toEqual([['drift-detected', 'shifted'], ['drift-failed', 'nothing']]);
    expect(s.runs().find((x) => x.endpoint === 'nothing')!.error).toMatch(/no captured rows of nothing/);
    await s.run(schedules[2]!); // the same failure again: no second event
    expect(events).toHaveLength(2);
    s.forget('shifted');
    const after = await registry.metrics();
    expect(after).not.toMatch(/endpoint="shifted"/);
    expect(after).toMatch(/mlserve_feature_drift\{endpoint="steady",feature="a",metric="psi"\}/);
  });
});
