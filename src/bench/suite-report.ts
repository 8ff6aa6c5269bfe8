// PURE: the benchmark suite's result, its four target ratios, and its table (fits 80 columns).

export interface Row {
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  meanBatch?: number;
  /** The replica's own time per batch (decode, predict, encode), from the deployment's counters. */
  computeMsPerBatch?: number;
}

export interface RawRun {
  batch: number;
  samplesPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

export interface ModelResult {
  id: string;
  threads: number;
  concurrency: number;
  raw: RawRun[];
  rows: Partial<Record<'naive' | 'mlserveNoBatch' | 'mlserveJson' | 'mlserveBinary' | 'mlserveC1' | 'mlserveC1Json', Row>>;
}

export interface Ratio {
  name: string;
  value: number;
  target: string;
  met: boolean;
}

export interface SuiteResult {
  date: string;
  quick: boolean;
  machine: Record<string, string | number>;
  durationS: number;
  models: ModelResult[];
  ratios: Record<string, Ratio>;
  elapsedS: number;
}

export const bestRaw = (m: ModelResult): RawRun => m.raw.reduce((a, b) => (b.samplesPerSec > a.samplesPerSec ? b : a));
const bestServed = (m: ModelResult): number => Math.max(m.rows.mlserveJson?.throughput ?? 0, m.rows.mlserveBinary?.throughput ?? 0);

/** The issue's four targets, computed from one run. */
export function ratios(r: SuiteResult): Record<string, Ratio> {
  const out: Record<string, Ratio> = {};
  const mlpModel = r.models.find((m) => m.id.startsWith('mlp'));
  if (mlpModel?.rows.naive && mlpModel.rows.mlserveJson) {
    const v = bestServed(mlpModel) / mlpModel.rows.naive.throughput;
    out.mlpVsNaive = { name: `tiny MLP at ${mlpModel.concurrency} connections: mlserve / naive server`, value: v, target: '>= 1.0x', met: v >= 1 };
  }
  for (const m of r.models.filter((x) => !x.id.startsWith('mlp'))) {
    const v = bestServed(m) / bestRaw(m).samplesPerSec;
    out[`${m.id}VsRaw`] = { name: `${m.id}: mlserve at saturation / raw ORT at best batch`, value: v, target: '>= 0.95x', met: v >= 0.95 };
  }
  const c1 = mlpModel?.rows.mlserveC1;
  const single = mlpModel?.raw.find((x) => x.batch === 1);
  if (c1 && single) {
    const v = c1.p50Ms - single.p50Ms;
    out.mlpC1Overhead = { name: 'tiny MLP at concurrency 1: mlserve p50 - raw single-run p50 (ms)', value: v, target: '<= 0.1 ms', met: v <= 0.1 };
  }
  const resnet = r.models.find((m) => m.id.startsWith('resnet'));
  if (resnet?.rows.mlserveBinary && resnet.rows.mlserveJson) {
    const v = resnet.rows.mlserveBinary.throughput / resnet.rows.mlserveJson.throughput;
    out.resnetBinaryVsJson = { name: 'ResNet-50-shaped inputs: binary / JSON throughput', value: v, target: '>= 3x', met: v >= 3 };
  }
  return out;
}

const f = (n: number | undefined, digits = 1) => (n === undefined ? '-' : n >= 1000 ? n.toFixed(0) : n.toFixed(digits));
const pad = (cells: string[], widths: number[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();

export function formatTable(r: SuiteResult): string {
  const widths = [34, 9, 8, 8, 6];
  const lines: string[] = [];
  for (const m of r.models) {
    const best = bestRaw(m);
    lines.push(`${m.id} (ORT threads ${m.threads}, ${m.concurrency} connections)`);
    lines.push(pad(['', 'req/s', 'p50 ms', 'p99 ms', 'batch'], widths));
    lines.push(pad([`raw ORT in-process, batch ${best.batch}`, f(best.samplesPerSec), f(best.p50Ms, 2), f(best.p99Ms, 2), String(best.batch)], widths));
    const row = (label: string, x?: Row) => x && lines.push(pad([label, f(x.throughput), f(x.p50Ms, 2), f(x.p99Ms, 2), x.meanBatch ? f(x.meanBatch) : '1'], widths));
    row('naive server (JSON, no batching)', m.rows.naive);
    row('mlserve, batching off (JSON)', m.rows.mlserveNoBatch);
    row('mlserve, batching on (JSON)', m.rows.mlserveJson);
    row('mlserve, batching on (binary)', m.rows.mlserveBinary);
    row('mlserve, concurrency 1 (binary)', m.rows.mlserveC1);
    row('mlserve, concurrency 1 (JSON)', m.rows.mlserveC1Json);
    const single = m.raw.find((x) => x.batch === 1);
    if (single && best.batch !== 1) lines.push(pad(['raw ORT in-process, batch 1', f(single.samplesPerSec), f(single.p50Ms, 3), f(single.p99Ms, 2), '1'], widths));
    lines.push('');
  }
  lines.push('targets');
  for (const x of Object.values(r.ratios)) {
    const name = x.name.length > 58 ? `${x.name.slice(0, 57)}…` : x.name;
    lines.push(`  ${name.padEnd(58)} ${x.value.toFixed(2).padStart(6)} ${x.met ? 'met' : 'MISSED'}`);
    lines.push(`    target ${x.target}`);
  }
  return lines.join('\n');
}

export interface SuiteArgs {
  quick: boolean;
  onnx: boolean;
  python: boolean;
  llm: boolean;
  /** Payload capture's cost (capture.ts, its own BENCH.md section). */
  capture: boolean;
  /** The image pipeline vs the model alone and a FastAPI service (pipeline.ts, its own BENCH.md section; needs Python). */
  pipeline: boolean;
  /** mlserve beside Ray Serve, MLServer and `mlflow models serve` (peers.ts, its own BENCH.md section): only with --peers or --only peers (it builds two more Python envs). */
  peers: boolean;
}

export const SUITE_USAGE = 'usage: node dist/bench/suite.js [--quick] [--no-python] [--no-llm] [--peers] [--only onnx|python|llm|capture|pipeline|peers]';

/** `npm run bench` flags: --quick, --no-python, --only onnx|python (or --only=python). Throws on anything else. */
export function parseSuiteArgs(argv: string[]): SuiteArgs {
  const out: SuiteArgs = { quick: false, onnx: true, python: true, llm: true, capture: true, pipeline: true, peers: false };
  let only: string | undefined;
  let noPython = false;
  let noLlm = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') out.quick = true;
    else if (a === '--no-python') noPython = true;
    else if (a === '--no-llm') noLlm = true;
    else if (a === '--peers') out.peers = true;
    else if (a === '--only' || a.startsWith('--only=')) {
      if (only !== undefined) throw new Error(`--only given twice\n${SUITE_USAGE}`);
      only = a === '--only' ? argv[++i] : a.slice('--only='.length);
      if (only !== 'onnx' && only !== 'python' && only !== 'llm' && only !== 'capture' && only !== 'pipeline' && only !== 'peers') throw new Error(`--only takes onnx, python, llm, capture, pipeline or peers (got ${only === undefined ? 'nothing' : `'${only}'`})\n${SUITE_USAGE}`);
    } else throw new Error(`unknown argument '${a}'\n${SUITE_USAGE}`);
  }
  if (only === 'python' && noPython) throw new Error(`--only python and --no-python leave nothing to run\n${SUITE_USAGE}`);
  if (only === 'pipeline' && noPython) throw new Error(`--only pipeline and --no-python leave nothing to run (the pipeline section compares with a Python service)\n${SUITE_USAGE}`);
  if ((only === 'peers' || out.peers) && noPython) throw new Error(`--peers and --no-python cannot go together (the peers are Python servers)\n${SUITE_USAGE}`);
  if (only === 'llm' && noLlm) throw new Error(`--only llm and --no-llm leave nothing to run\n${SUITE_USAGE}`);
  if (only !== undefined && only !== 'onnx') out.onnx = false;
  if ((only !== undefined && only !== 'python') || noPython) out.python = false;
  if ((only !== undefined && only !== 'llm') || noLlm) out.llm = false;
  if (only !== undefined && only !== 'capture') out.capture = false;
  if ((only !== undefined && only !== 'pipeline') || noPython) out.pipeline = false;
  if (only !== undefined) out.peers = only === 'peers';
  return out;
}
