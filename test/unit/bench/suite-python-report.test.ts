import { describe, expect, it } from 'vitest';
import {
  bestPerBatch, dataframeSplitBody, extractSection, formatPythonTable, oipColumnsBody, PY_END, PY_START, pythonAnalysis, pythonGoals,
  pythonMarkdown, replicaComparison, spliceSection, type InProcessRun, type PyRow, type PythonSectionResult, type ServedBatchRow,
} from '../../../src/bench/suite-python-report.js';
import { parseSuiteArgs } from '../../../src/bench/suite-report.js';

const G = 'load.ts (undici Pool, closed loop)';
const row = (throughput: number, p50Ms: number, meanBatch?: number): PyRow => ({ throughput, p50Ms, p99Ms: p50Ms * 3, errors: 0, generator: G, ...(meanBatch ? { meanBatch } : {}) });
const ip = (batch: number, rowsPerSec: number, p50Ms = 1.5): InProcessRun => ({ batch, calls: 100, rowsPerSec, p50Ms, p99Ms: p50Ms * 2, generator: 'pyfunc_loop.py' });
const served = (batch: number, rowsPerSec: number, meanBatch = 1): ServedBatchRow => ({ ...row(rowsPerSec / batch, 10), batch, rowsPerSec, meanBatch, computeMsPerBatch: 1.9 });

function result(over: Partial<PythonSectionResult> = {}): PythonSectionResult {
  const r: PythonSectionResult = {
    date: '2026-12-01T00:00:00.000Z', quick: false, cpus: 2, durationS: 8, model: 'iris_sklearn',
    env: { interpreter: '/x/bin/python', python: '3.11.9', mlflow: '3.17.2', sklearn: '1.9.1', pandas: '3.1.1', numpy: '2.4.6' },
    mlflowServe: { command: 'mlflow models serve -m <model dir> --env-manager local', workers: '1' }, wrk: null,
    concurrency: 64, overheadConcurrency: 8, sameAnswer: true,
    rows: {
      mlflow: row(200, 300), mlserveInvocations: row(700, 90, 19.5), mlserveOip: row(3600, 15, 17),
      mlflowC1: row(140, 7.0), mlserveInvocationsC1: row(200, 7.4, 1), mlserveOipC1: row(300, 3.1, 1),
    },
    inProcess: [ip(1, 650, 1.4), ip(8, 5000, 1.5), ip(32, 16000, 1.6)],
    served: [served(1, 900, 2.4), served(8, 4000, 1.8), served(32, 13600, 1)],
    goals: {}, elapsedS: 120,
    ...over,
  };
  r.goals = pythonGoals(r);
  return r;
}

describe('pythonGoals', () => {
  it('computes the five goals of one run and marks them met or missed', () => {
    const g = result().goals;
    expect(Object.keys(g)).toEqual(['sklearnInvocationsVsMlflow', 'sklearnOipVsMlflow', 'sklearnInvocationsC1', 'sklearnOipC1', 'replicaVsInProcess']);
    expect(g.sklearnInvocationsVsMlflow).toMatchObject({ value: 3.5, met: true, target: '>= 3x' });
    expect(g.sklearnOipVsMlflow).toMatchObject({ value: 18, met: true });
    expect(g.sklearnInvocationsC1.value).toBeCloseTo(0.4);
    expect(g.sklearnInvocationsC1).toMatchObject({ met: true, target: '<= 0.5 ms' });
    expect(g.sklearnOipC1.value).toBeCloseTo(-3.9);
    // in-process is best at 32 rows: mlserve at 32 rows / in-process at 32 rows
    expect(g.replicaVsInProcess).toMatchObject({ value: 0.85, met: false, target: '>= 0.9x' });
    expect(g.replicaVsInProcess.name).toContain('32 rows');
  });

  it('misses at the boundaries as written: 3x and 0.5 ms are met, just past them is not', () => {
    const at = pythonGoals({ ...result(), rows: { mlflow: row(100, 5), mlserveInvocations: row(300, 1), mlflowC1: row(1, 5), mlserveInvocationsC1: row(1, 5.5) } });
    expect(at.sklearnInvocationsVsMlflow.met).toBe(true);
    expect(at.sklearnInvocationsC1.met).toBe(true);
    const past = pythonGoals({ ...result(), rows: { mlflow: row(100, 5), mlserveInvocations: row(299.9, 1), mlflowC1: row(1, 5), mlserveInvocationsC1: row(1, 5.51) } });
    expect(past.sklearnInvocationsVsMlflow.met).toBe(false);
    expect(past.sklearnInvocationsC1.met).toBe(false);
  });

  it('leaves out a goal whose rows were not measured', () => {
    const g = pythonGoals({ rows: { mlserveOip: row(1000, 1) }, inProcess: [ip(32, 100)], served: [served(1, 50)], concurrency: 64 });
    expect(g).toEqual({});
  });
});

describe('replicaComparison', () => {
  it('compares at the in-process best batch size, not at mlserve\'s best', () => {
    const c = replicaComparison({ inProcess: [ip(1, 600), ip(32, 16000)], served: [served(1, 20000, 8), served(32, 8000)] });
    expect(c).toMatchObject({ ratio: 0.5, inProcess: { batch: 32 }, served: { batch: 32 } });
    expect(replicaComparison({ inProcess: [], served: [] })).toBeNull();
  });
});

describe('bestPerBatch', () => {
  it('keeps the faster pass per batch size', () => {
    const best = bestPerBatch([ip(1, 600), ip(32, 9000)], [ip(1, 500), ip(32, 16000), ip(8, 4000)]);
    expect(best.map((x) => [x.batch, x.rowsPerSec])).toEqual([[1, 600], [32, 16000], [8, 4000]]);
  });
});

describe('request bodies', () => {
  const cols = ['a', 'b'];
  it('dataframe_split: columns and rows as MLflow reads them', () => {
    expect(JSON.parse(dataframeSplitBody(cols, [[1, 2]]))).toEqual({ dataframe_split: { columns: ['a', 'b'], data: [[1, 2]] } });
  });
  it('OIP: one FP64 column tensor of n rows per column, rows cycled', () => {
    expect(JSON.parse(oipColumnsBody(cols, [[1, 2], [3, 4]], 3))).toEqual({
      inputs: [{ name: 'a', datatype: 'FP64', shape: [3], data: [1, 3, 1] }, { name: 'b', datatype: 'FP64', shape: [3], data: [2, 4, 2] }],
    });
  });
});

describe('formatPythonTable', () => {
  it('fits 80 columns and shows every row, the overhead table and the goals', () => {
    const t = formatPythonTable(result());
    for (const line of t.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
    expect(t).toContain('mlflow models serve (1 worker)');
    expect(t).toMatch(/mlserve, \/invocations\s+700\.0\s+90\.00\s+270\.00\s+19\.5/);
    expect(t).toMatch(/^32\s+16000\s+1\.60\s+13600\s+1\.90\s+32\.0\s+0\.85$/m);
    expect(t).toContain('wrk not installed');
    expect(t).toMatch(/replica: mlserve \/ in-process .* 0\.85 MISSED/);
  });
  it('names wrk when it is installed, and skips parts that did not run', () => {
    const t = formatPythonTable(result({ wrk: '/usr/bin/wrk', inProcess: [], rows: { mlflow: row(200, 300) } }));
    expect(t).toContain('wrk at /usr/bin/wrk not used');
    expect(t).not.toContain('at concurrency 1');
    expect(t).not.toContain('in-process rows/s');
  });
});

describe('pythonAnalysis and the BENCH.md section', () => {
  it('states the figures of the run with the goals\' verdicts', () => {
    const a = pythonAnalysis(result()).join('\n');
    expect(a).toContain('700 req/s against 200');
    expect(a).toContain('3.50x, goal >= 3x: met');
    expect(a).toContain('+0.40 ms, goal <= 0.5 ms: met');
    expect(a).toContain('0.85x, goal >= 0.9x: missed');
    expect(a).toContain('the same JSON');
    // 13600 rows/s at 32 rows per predict: a predict every 2.35 ms, 1.90 of them the replica's own
    expect(a).toContain('every 2.35 ms against 1.60 ms per in-process call');
    expect(a).toContain('was 1.90 ms; the other 0.45 ms');
  });
  it('wraps the section in markers and names the results file', () => {
    const md = pythonMarkdown(result(), 'bench/results/x.json');
    expect(md.startsWith(PY_START)).toBe(true);
    expect(md.endsWith(PY_END)).toBe(true);
    expect(md).toContain('`bench/results/x.json`');
    expect(md).toContain('MLflow 3.17.2');
  });
  it('splices: replaces an existing section, appends when there is none, extracts it back', () => {
    const sec = `${PY_START}\nnew\n${PY_END}`;
    expect(spliceSection('# bench\n\nonnx\n', sec)).toBe(`# bench\n\nonnx\n\n${sec}\n`);
    const doc = `# bench\n\n${PY_START}\nold\n${PY_END}\n\ntail\n`;
    expect(spliceSection(doc, sec)).toBe(`# bench\n\n${sec}\n\ntail\n`);
    expect(extractSection(doc)).toBe(`${PY_START}\nold\n${PY_END}`);
    expect(extractSection('# nothing')).toBe('');
  });
});

describe('parseSuiteArgs', () => {
  it('runs every section by default; --no-python, --no-llm and --only pick', () => {
    expect(parseSuiteArgs([])).toEqual({ quick: false, onnx: true, python: true, llm: true, capture: true, pipeline: true, peers: false });
    expect(parseSuiteArgs(['--quick', '--no-python'])).toEqual({ quick: true, onnx: true, python: false, llm: true, capture: true, pipeline: false, peers: false });
    expect(parseSuiteArgs(['--only', 'python'])).toEqual({ quick: false, onnx: false, python: true, llm: false, capture: false, pipeline: false, peers: false });
    expect(parseSuiteArgs(['--only=onnx', '--quick'])).toEqual({ quick: true, onnx: true, python: false, llm: false, capture: false, pipeline: false, peers: false });
    expect(parseSuiteArgs(['--only', 'llm'])).toEqual({ quick: false, onnx: false, python: false, llm: true, capture: false, pipeline: false, peers: false });
    expect(parseSuiteArgs(['--no-llm'])).toEqual({ quick: false, onnx: true, python: true, llm: false, capture: true, pipeline: true, peers: false });
    expect(parseSuiteArgs(['--only', 'capture'])).toEqual({ quick: false, onnx: false, python: false, llm: false, capture: true, pipeline: false, peers: false });
    expect(parseSuiteArgs(['--peers'])).toEqual({ quick: false, onnx: true, python: true, llm: true, capture: true, pipeline: true, peers: true });
    expect(parseSuiteArgs(['--only', 'peers', '--quick'])).toEqual({ quick: true, onnx: false, python: false, llm: false, capture: false, pipeline: false, peers: true });
    expect(parseSuiteArgs(['--only', 'pipeline'])).toEqual({ quick: false, onnx: false, python: false, llm: false, capture: false, pipeline: true, peers: false });
  });
  it.each([
    [['--fast'], /unknown argument '--fast'/],
    [['--only'], /--only takes onnx, python, llm, capture, pipeline or peers \(got nothing\)/],
    [['--peers', '--no-python'], /cannot go together/],
    [['--only', 'peers', '--no-python'], /cannot go together/],
    [['--only', 'pipeline', '--no-python'], /leave nothing to run/],
    [['--only', 'llm', '--no-llm'], /leave nothing to run/],
    [['--only', 'tf'], /got 'tf'/],
    [['--only', 'python', '--no-python'], /leave nothing to run/],
    [['--only', 'onnx', '--only', 'python'], /given twice/],
  ])('refuses %j', (argv, msg) => {
    expect(() => parseSuiteArgs(argv)).toThrow(msg);
  });
});
