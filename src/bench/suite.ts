// `npm run bench`: one run that measures, side by side on this machine, for three models from the
// graph builder (tiny MLP 64-256-256-10, a MobileNetV2-sized conv net, a ResNet-50-shaped net):
//   (a) raw onnxruntime-node in-process at its best batch size (the limit),
//   (b) a naive single-process server (node:http, one ORT run per request),
//   (c) mlserve with batching off, (d) mlserve with batching on, JSON and binary,
// and reports the ratios (machines here are shared and noisy: only same-run ratios mean much).
// Then the Python section (suite-python.ts): a scikit-learn model on mlserve's Python replica vs
// `mlflow models serve`, and the replica vs model.predict in-process.
// Writes bench/results/<date>.json and BENCH.md. `--quick` runs shorter and smaller (and writes no
// BENCH.md); `--no-python` skips the Python sections, `--only onnx|python|llm|capture|pipeline|peers` runs one section.
// `--peers` adds the peers section (peers.ts: Ray Serve, MLServer, `mlflow models serve`), which is off by default.
// Then the image pipeline (pipeline.ts) and, last, payload capture's cost (capture.ts: capture off, 5%, 100%).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { saveModel } from '../models/graph-builder.js';
import { uuid1 } from '../models/mlflow-writer.js';
import { convNet, mlp, resnetNet, type ZooModel } from '../models/zoo.js';
import { VERSION } from '../version.js';
import { buildRequest } from './inputs.js';
import type { RequestSpec } from './load.js';
import { log, measure, Mlserve, ROOT } from './suite-common.js';
import { runPythonSection } from './suite-python.js';
import { extractSection, formatPythonTable, PY_START, pythonMarkdown, spliceSection, type PythonSectionResult } from './suite-python-report.js';
import { formatTable, parseSuiteArgs, type SuiteArgs, type SuiteResult, type Row, ratios } from './suite-report.js';
import { runLlmSection } from './suite-llm.js';
import { extractLlmSection, formatLlmTable, llmMarkdown, spliceLlmSection, type LlmSectionResult } from './suite-llm-report.js';

let ARGS: SuiteArgs;
try {
  ARGS = parseSuiteArgs(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(2);
}
const QUICK = ARGS.quick;
const DIST = fileURLToPath(new URL('./', import.meta.url));
const DURATION = QUICK ? 2500 : 8000;
const WARMUP = QUICK ? 700 : 2000;
const RAW_SECONDS = QUICK ? 1.5 : 4;
/** Seconds of in-process predict per batch size (twice in a full run): keeps the Python section under 3 min. */
const PY_LOOP_SECONDS = QUICK ? 1.5 : 3;

interface Case {
  id: string;
  build: () => ZooModel;
  threads: number;
  concurrency: number;
  rawBatches: number[];
  protocols: ('json' | 'binary')[];
}

const CASES: Case[] = [
  { id: 'mlp-64-256-256-10', build: () => mlp({ seed: 1, sizes: [64, 256, 256, 10] }), threads: 1, concurrency: 64, rawBatches: QUICK ? [1, 64] : [1, 16, 64, 256], protocols: ['json', 'binary'] },
  { id: 'mobilenetv2-sized', build: () => convNet({ seed: 1, resolution: QUICK ? 112 : 224 }), threads: 2, concurrency: 16, rawBatches: QUICK ? [1, 8] : [1, 4, 8, 16], protocols: ['json', 'binary'] },
  { id: 'resnet50-shaped', build: () => resnetNet({ seed: 1, resolution: QUICK ? 112 : 224 }), threads: 2, concurrency: 8, rawBatches: QUICK ? [1, 4] : [1, 2, 4, 8], protocols: ['json', 'binary'] },
];

async function raw(file: string, threads: number, batch: number) {
  const r = await execa(process.execPath, [join(DIST, 'raw-ort.js'), file, String(threads), String(batch), String(RAW_SECONDS)]);
  return JSON.parse(String(r.stdout)) as { batch: number; samplesPerSec: number; p50Ms: number; p99Ms: number };
}

const TIMING = { durationMs: DURATION, warmupMs: WARMUP };
const load = (url: string, request: RequestSpec, concurrency: number): Promise<Row> => measure(url, request, concurrency, TIMING);

async function naive(file: string, threads: number, request: RequestSpec, concurrency: number): Promise<Row> {
  const child = execa(process.execPath, [join(DIST, 'naive-server.js'), file, String(threads)], { buffer: false, reject: false });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(JSON.parse(d.toString()).port));
    child.once('exit', () => reject(new Error('naive server exited')));
  });
  try {
    return await load(`http://127.0.0.1:${port}`, { ...request, path: '/v2/models/naive/infer' }, concurrency);
  } finally {
    child.kill('SIGKILL');
    await child;
  }
}

async function runCase(c: Case, daemon: Mlserve): Promise<SuiteResult['models'][number]> {
  log(`\n== ${c.id}: building the model`);
  const model = c.build();
  const dir = mkdtempSync(join(tmpdir(), `bench-${c.id}-`));
  const file = saveModel(dir, model.builder.toBytes({ externalDataFile: uuid1() }), `${c.id}.onnx`);
  const out: SuiteResult['models'][number] = { id: c.id, threads: c.threads, concurrency: c.concurrency, raw: [], rows: {} };
  try {
    for (const b of c.rawBatches) {
      const r = await raw(file, c.threads, b);
      out.raw.push(r);
      log(`  raw ORT batch ${b}: ${r.samplesPerSec.toFixed(1)} samples/s, p50 ${r.p50Ms.toFixed(3)} ms`);
    }
    const json = buildRequest(c.id, model.signature, 1, 'json');
    const binary = buildRequest(c.id, model.signature, 1, 'binary');
    out.rows.naive = await naive(file, c.threads, json, c.concurrency);
    log(`  naive server: ${out.rows.naive.throughput.toFixed(1)} req/s`);

    await daemon.deploy(file, `${c.id}-nobatch`, c.threads, false);
    out.rows.mlserveNoBatch = await load(daemon.url, { ...json, path: `/v2/models/${c.id}-nobatch/infer` }, c.concurrency);
    log(`  mlserve, batching off: ${out.rows.mlserveNoBatch.throughput.toFixed(1)} req/s`);
    await daemon.cli(['undeploy', `${c.id}-nobatch`]);

    await daemon.deploy(file, c.id, c.threads, true);
    for (const p of c.protocols) {
      const before = await daemon.stats(c.id);
      const row = await load(daemon.url, p === 'json' ? json : binary, c.concurrency);
      const after = await daemon.stats(c.id);
      row.meanBatch = (after.batchedRequests - before.batchedRequests) / Math.max(1, after.batches - before.batches);
      out.rows[p === 'json' ? 'mlserveJson' : 'mlserveBinary'] = row;
      log(`  mlserve, batching on, ${p}: ${row.throughput.toFixed(1)} req/s, mean batch ${row.meanBatch.toFixed(1)}`);
    }
    if (c.id.startsWith('mlp')) {
      out.rows.mlserveC1 = await load(daemon.url, binary, 1);
      out.rows.mlserveC1Json = await load(daemon.url, json, 1);
      log(`  mlserve at concurrency 1: p50 ${out.rows.mlserveC1.p50Ms.toFixed(3)} ms binary, ${out.rows.mlserveC1Json.p50Ms.toFixed(3)} ms json`);
    }
    await daemon.cli(['undeploy', c.id]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

async function main(): Promise<void> {
  const started = Date.now();
  const ortVersion = (await import('onnxruntime-node/package.json', { with: { type: 'json' } })).default.version as string;
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, onnxruntime: ortVersion, mlserve: VERSION };
  const sections = [ARGS.onnx && 'onnx', ARGS.python && 'python', ARGS.llm && 'llm', ARGS.pipeline && 'pipeline', ARGS.peers && 'peers', ARGS.capture && 'capture'].filter(Boolean).join(' + ');
  log(`mlserve bench suite${QUICK ? ' (quick)' : ''}, ${sections}: ${machine.cpus} x ${machine.cpu}, ${machine.memGiB} GiB, node ${machine.node}`);
  const result: SuiteResult & { sections: string[]; python?: PythonSectionResult; pythonError?: string; llm?: LlmSectionResult; llmError?: string } = {
    date: new Date().toISOString(), quick: QUICK, machine, durationS: DURATION / 1000, sections: sections.split(' + '), models: [], ratios: {} as SuiteResult['ratios'], elapsedS: 0,
  };
  if (ARGS.onnx) {
    const daemon = new Mlserve();
    await daemon.start();
    try {
      for (const c of CASES) result.models.push(await runCase(c, daemon));
    } finally {
      await daemon.stop();
    }
    result.ratios = ratios(result);
  }
  if (ARGS.python) {
    // A failure here (no Python env, mlflow not starting) keeps the ONNX figures: they are written, the exit code is 1.
    try {
      result.python = await runPythonSection({ quick: QUICK, timing: TIMING, inProcessSeconds: PY_LOOP_SECONDS, cpus: machine.cpus });
    } catch (err) {
      result.pythonError = (err as Error).message;
      log(`\nPython section failed (skip it with --no-python): ${result.pythonError}`);
      process.exitCode = 1;
    }
  }
  if (ARGS.llm) {
    try {
      result.llm = await runLlmSection({ quick: QUICK });
    } catch (err) {
      result.llmError = (err as Error).message;
      log(`\nLLM section failed (skip it with --no-llm): ${result.llmError}`);
      process.exitCode = 1;
    }
  }
  result.elapsedS = (Date.now() - started) / 1000;
  const table = ARGS.onnx ? formatTable(result) : '';
  const pyTable = result.python ? formatPythonTable(result.python) : '';
  const llmTable = result.llm ? formatLlmTable(result.llm) : '';
  process.stdout.write(`\n${[table, pyTable, llmTable].filter(Boolean).join('\n\n')}\n`);
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  const stamp = result.date.replace(/[:.]/g, '-');
  const tag = ARGS.onnx && ARGS.python && ARGS.llm ? '' : `-${result.sections.join('-')}`;
  const resultsFile = `bench/results/${stamp}${tag}${QUICK ? '-quick' : ''}.json`;
  // A run of only the sections with scripts of their own (pipeline, peers, capture) has nothing to write here.
  const ownSections = ARGS.onnx || ARGS.python || ARGS.llm;
  if (ownSections) {
    writeFileSync(join(ROOT, resultsFile), `${JSON.stringify(result, null, 2)}\n`);
    log(`results: ${resultsFile}`);
  }
  if (!QUICK && ownSections) {
    // A run of one section keeps the other section of BENCH.md as it was.
    const benchMd = join(ROOT, 'BENCH.md');
    const old = existsSync(benchMd) ? readFileSync(benchMd, 'utf8') : '';
    // Sections other runs own (between <!-- x:start --> and <!-- x:end -->, e.g. the hardening bench's) are kept.
    const kept = (old.match(/<!-- ([\w-]+):start -->[\s\S]*?<!-- \1:end -->/g) ?? []).filter((x) => !x.startsWith(PY_START)).map((x) => `\n${x}\n`).join('');
    const onnxPart = ARGS.onnx
      ? `# mlserve benchmark\n\nLatest full \`npm run bench\` run, ${result.date}, on ${machine.cpus} x ${machine.cpu}, ${machine.memGiB} GiB, Node ${machine.node}, onnxruntime-node ${machine.onnxruntime}. The load generator runs on the same machine and shares its cores. Each row ran ${result.durationS}s after warm-up; ratios compare rows of this one run.\n\n\`\`\`\n${table}\n\`\`\`\n\nRaw JSON: \`${resultsFile}\`. Why targets are missed and what was tried: \`bench/ANALYSIS.md\`.\n${kept}`
      : old;
    const pySection = result.python ? pythonMarkdown(result.python, resultsFile) : extractSection(old);
    const withPython = pySection ? spliceSection(ARGS.onnx ? onnxPart : old, pySection) : onnxPart;
    const llmSection = result.llm ? llmMarkdown(result.llm, resultsFile, result.date) : extractLlmSection(old);
    writeFileSync(benchMd, llmSection ? spliceLlmSection(withPython, llmSection) : withPython);
    log('BENCH.md updated');
  }
  if (ARGS.pipeline) {
    // The image pipeline: its own script (a daemon and a FastAPI service of its own), its own BENCH.md section and JSON.
    log('image pipeline: /predict vs /infer with ready tensors vs a FastAPI service (node dist/bench/pipeline.js)');
    await execa(process.execPath, [join(DIST, 'pipeline.js'), ...(QUICK ? ['--quick'] : [])], { stdio: 'inherit' });
  }
  if (ARGS.peers) {
    // Ray Serve, MLServer, mlflow models serve: its own script (servers one at a time), its own BENCH.md section and JSON.
    log('peers: mlserve vs Ray Serve, MLServer and mlflow models serve (node dist/bench/peers.js)');
    await execa(process.execPath, [join(DIST, 'peers.js'), ...(QUICK ? ['--quick'] : [])], { stdio: 'inherit' });
  }
  if (ARGS.capture) {
    // Payload capture's cost: its own script (a daemon of its own), its own BENCH.md section and JSON.
    log('payload capture: off, 5%, 100% (node dist/bench/capture.js)');
    await execa(process.execPath, [join(DIST, 'capture.js'), ...(QUICK ? ['--quick'] : [])], { stdio: 'inherit' });
  }
  log(`done in ${result.elapsedS.toFixed(0)}s`);
}

await main();
