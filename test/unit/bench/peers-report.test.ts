import { describe, expect, it } from 'vitest';
import { formatGoals, formatPeerModel, peerGoals, peersMarkdown, type PeerModel, type PeerRow, type PeersResult } from '../../../src/bench/peers-report.js';

const row = (throughput: number, p50Ms = 1, p99Ms = 2): PeerRow => ({ throughput, p50Ms, p99Ms, errors: 0, generator: 'wrk' });
const model = (id: string, over: Partial<PeerModel> = {}): PeerModel => ({
  id, rowShape: id === 'tiny_mlp' ? [64] : [3, 224, 224], raw: [{ batch: 1, samplesPerSec: 20, p50Ms: 50, p99Ms: 60 }, { batch: 4, samplesPerSec: 25, p50Ms: 160, p99Ms: 170 }],
  load: {}, c1: {}, mismatches: {}, failed: {}, ...over,
});

describe('peerGoals', () => {
  it('tiny MLP: mlserve JSON against the naive server, Ray Serve and MLServer; p50 at one connection over naive', () => {
    const g = peerGoals([model('tiny_mlp', { load: { mlserve: row(15000), mlserveBinary: row(99999), naive: row(10000), ray: row(2000), mlserver: row(6000) }, c1: { mlserve: row(0, 0.6), naive: row(0, 0.5) } })], 64);
    expect(g.map((x) => [x.name, x.value === null ? null : Number(x.value.toFixed(3)), x.met])).toEqual([
      ['tiny MLP, 64 conns: mlserve / naive', 1.5, true],
      ['tiny MLP, 64 conns: mlserve / Ray Serve', 7.5, true],
      ['tiny MLP, 64 conns: mlserve / MLServer', 2.5, false],
      ['tiny MLP, 1 conn: p50 over naive (ms)', 0.1, true],
    ]);
  });
  it('vision models: mlserve at its best (JSON or binary) against raw ORT at its best batch, and against each peer', () => {
    const g = peerGoals([model('resnet50', { load: { mlserve: row(10), mlserveBinary: row(24), ray: row(12), mlserver: row(30), mlflow: row(5) } })], 64);
    expect(g.map((x) => [x.name, Number(x.value!.toFixed(3)), x.met])).toEqual([
      ['resnet50: mlserve / raw ORT at best batch', 0.96, true],
      ['resnet50: mlserve / Ray Serve', 2, true],
      ['resnet50: mlserve / MLServer', 0.8, false],
      ['resnet50: mlserve / mlflow models serve', 4.8, true],
    ]);
  });
  it('a peer that could not run is a missed goal that says why, not a pass', () => {
    const g = peerGoals([model('mobilenet_v2', { load: { mlserve: row(10) }, failed: { ray: 'Ray Serve did not start' } })], 64);
    const ray = g.find((x) => x.name.includes('Ray'))!;
    expect(ray).toMatchObject({ value: null, met: false, why: 'Ray Serve did not start' });
    expect(g.find((x) => x.name.includes('MLServer'))).toMatchObject({ value: null, met: false, why: 'no mlserver row' });
  });
});

describe('tables', () => {
  const m = model('resnet50', { load: { naive: row(8.5, 900, 1200), mlserve: row(22.12, 2800, 3100), mlserveBinary: row(24, 2600, 2800), ray: row(12) }, c1: { mlserve: row(0, 45), naive: row(0, 44) }, failed: { mlserver: 'MLServer did not become ready at http://127.0.0.1:1/v2/models/m/ready' } });
  it('fit 80 columns and show every row, a failed one with why', () => {
    const t = formatPeerModel(m, 64);
    for (const line of t.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    expect(t).toContain('raw ORT in-process, batch 4');
    expect(t).toMatch(/mlserve, defaults \(binary\)\s+24\.00/);
    expect(t).toMatch(/Ray Serve.*\s2\.00$/m); // mlserve's best (24) / 12
    expect(t).toContain('failed: MLServer did not become ready');
    const goals = formatGoals(peerGoals([m], 64));
    for (const line of goals.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    expect(goals).toMatch(/mlserve \/ raw ORT at best batch\s+0\.96 >= 0\.95x\s+met/);
  });
  it('the BENCH.md section names the generator, versions and what could not be measured', () => {
    const r: PeersResult = { date: '2026-12-01T00:00:00.000Z', quick: false, machine: { cpus: 2, cpu: 'EPYC' }, generator: 'wrk 4', connections: 64, durationS: 8, threads: 2, versions: { ray: '2.60.0' }, models: [{ ...m, mismatches: { ray: 0.5 } }], goals: peerGoals([m], 64), elapsedS: 1, generators: { builtin: row(6000, 10), wrk: row(30000, 2) } };
    const md = peersMarkdown(r, 'bench/results/x.json');
    expect(md).toContain('load from wrk 4');
    expect(md).toContain('ray 2.60.0');
    expect(md).toMatch(/built-in \(mlserve bench, undici Pool\)\s+6000 req\/s/);
    expect(md).toMatch(/wrk \(1 thread\)\s+30000 req\/s/);
    for (const line of md.split('\n').filter((l) => !l.startsWith('`npm run') && !l.startsWith('- '))) expect(line.length).toBeLessThanOrEqual(80);
    expect(md).toContain('- resnet50, mlserver: not measured: MLServer did not become ready');
    expect(md).toContain('- resnet50, ray: answer differs from raw onnxruntime by up to 5.00e-1');
  });
});
