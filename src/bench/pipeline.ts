// `node dist/bench/pipeline.js [--quick]` (also `npm run bench -- --only pipeline`): what an image
// pipeline costs, on this machine, with the ResNet-50 of the tests (torchvision's architecture
// exported to ONNX by test/fixtures/python/make_vision_models.py) and a 640x480 JPEG:
//   (a) mlserve /predict with the JPEG (decode, resize, crop, normalize, the model, softmax, top-5),
//   (b) mlserve /infer with the tensor already made (binary tensor extension): the model alone,
//   (c) a FastAPI service doing the same work in Python per request (python_image_server.py: PIL +
//       torchvision transforms + onnxruntime, one image per model call, in FastAPI's thread pool).
// Closed loop, same concurrency, same onnxruntime threads; rows interleaved over two rounds, the
// median kept. Goals (issue 14): (a)/(b) >= 0.9x, (a)/(c) >= 2x. Writes
// bench/results/<date>-pipeline.json and the "Image pipeline" section of BENCH.md.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { log, machine, measure, Mlserve, ROOT, writeResults } from './suite-common.js';
import type { Row } from './suite-report.js';
import type { RequestSpec } from './load.js';

const QUICK = process.argv.includes('--quick');
const TIMING = { durationMs: QUICK ? 3000 : 10_000, warmupMs: QUICK ? 1500 : 3000 };
const CONCURRENCY = 8;
const THREADS = 2;
const ROUNDS = 2;
const ROWS = ['mlserve /predict (JPEG)', 'mlserve /infer (tensor)', 'FastAPI + PIL + torchvision + ORT'] as const;
type RowName = (typeof ROWS)[number];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function pyfuncPython(): Promise<string> {
  const r = await execa(process.execPath, [join(ROOT, 'scripts', 'pyenv.mjs'), 'pyfunc', '--quiet'], { stderr: 'inherit' });
  return String(r.stdout).trim().split('\n').pop()!;
}

/** The vision fixtures, where the tests keep them (.cache/fixtures/<hash of the script and the python>/), made when missing. */
async function visionFixtures(python: string): Promise<{ model_dir: string; images: Record<string, { path: string; tensor: string }> }> {
  const script = join(ROOT, 'test', 'fixtures', 'python', 'make_vision_models.py');
  const hash = createHash('sha256').update(readFileSync(script)).update('\0').update(python).digest('hex').slice(0, 12);
  const dir = join(ROOT, '.cache', 'fixtures', hash);
  if (!existsSync(join(dir, 'reference.json'))) {
    log('making the vision fixtures (ResNet-50 export, images): test/fixtures/python/make_vision_models.py');
    await execa(python, [script, dir], { stderr: 'inherit' });
  }
  return JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8'));
}

function binaryRequest(path: string, name: string, shape: number[], bytes: Buffer): RequestSpec {
  const header = Buffer.from(JSON.stringify({ inputs: [{ name, shape, datatype: 'FP32', parameters: { binary_data_size: bytes.length } }], outputs: [{ name: 'logits', parameters: { binary_data: true } }] }));
  return { path, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) }, body: Buffer.concat([header, bytes]) };
}

async function startPython(python: string, modelFile: string, labels: string): Promise<{ url: string; stop: () => void }> {
  const child = spawn(python, [join(ROOT, 'src', 'bench', 'python_image_server.py'), modelFile, labels, String(THREADS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(JSON.parse(d.toString()).port));
    child.once('exit', (code) => reject(new Error(`python_image_server.py exited (${code})`)));
  });
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') };
}

/** PURE: the section of BENCH.md. */
export function pipelineSection(r: { date: string; file: string; rows: Record<RowName, Row>; loadavg: number[]; meanBatch: number }): string {
  const a = r.rows[ROWS[0]];
  const line = (n: RowName) => {
    const x = r.rows[n];
    return `  ${n.padEnd(36)} ${x.throughput.toFixed(1).padStart(7)} ${x.p50Ms.toFixed(0).padStart(7)} ${x.p99Ms.toFixed(0).padStart(7)} ${(a.throughput / x.throughput).toFixed(2).padStart(9)}`;
  };
  const vsTensor = a.throughput / r.rows[ROWS[1]].throughput;
  const vsPython = a.throughput / r.rows[ROWS[2]].throughput;
  const verdict = (v: number, goal: number) => `${v.toFixed(2)}x (goal >= ${goal}x: ${v >= goal ? 'met' : 'MISSED'})`;
  return [
    '## Image pipeline (issue 14): decoding and resizing vs the model',
    '',
    `\`node dist/bench/pipeline.js\` on this machine, ${r.date} (load average ${r.loadavg.map((x) => x.toFixed(1)).join('/')} at the start): the tests' ResNet-50 (torchvision's, exported to ONNX), a 640x480 JPEG, ${CONCURRENCY} connections, onnxruntime with ${THREADS} threads everywhere; each row ran twice, interleaved, the median kept (mlserve batched ${r.meanBatch.toFixed(1)} images per model run). Raw JSON: \`bench/results/${r.file}\`.`,
    '',
    '```',
    '                                        img/s  p50 ms  p99 ms  /predict is',
    ...ROWS.map(line),
    '```',
    '',
    `/predict vs the model fed ready tensors: ${verdict(vsTensor, 0.9)}; vs the FastAPI service: ${verdict(vsPython, 2)}.`,
  ].join('\n');
}

async function main() {
  const date = new Date().toISOString();
  const load0 = loadavg();
  const python = await pyfuncPython();
  const fx = await visionFixtures(python);
  const img = fx.images['landscape.jpg']!;
  const jpeg = readFileSync(img.path);
  const tensor = readFileSync(img.tensor);
  const modelFile = join(fx.model_dir, 'model.onnx');
  const d = new Mlserve();
  const py = await startPython(python, modelFile, join(fx.model_dir, 'labels.txt'));
  try {
    await d.start();
    await d.cli(['deploy', fx.model_dir, '--endpoint', 'resnet', '--threads', String(THREADS), '--pre', 'image:resize=256,crop=224', '--post', 'softmax', '--post', 'topk:k=5', '--post', 'labels:file=labels.txt']);
    const requests: Record<RowName, { url: string; request: RequestSpec }> = {
      [ROWS[0]]: { url: d.url, request: { path: '/v2/models/resnet/predict', headers: { 'content-type': 'image/jpeg' }, body: jpeg } },
      [ROWS[1]]: { url: d.url, request: binaryRequest('/v2/models/resnet/infer', 'input', [1, 3, 224, 224], tensor) },
      [ROWS[2]]: { url: py.url, request: { path: '/predict', headers: { 'content-type': 'image/jpeg' }, body: jpeg } },
    };
    const runs = Object.fromEntries(ROWS.map((n) => [n, [] as Row[]])) as Record<RowName, Row[]>;
    let meanBatch = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const n of ROWS) {
        const { url, request } = requests[n];
        const run = () => measure(url, request, CONCURRENCY, TIMING);
        const row = n === ROWS[0] ? await d.withMeanBatch('resnet', run).then((x) => ((meanBatch = x.meanBatch), x.value)) : await run();
        log(`round ${round + 1} ${n}: ${row.throughput.toFixed(1)} img/s, p50 ${row.p50Ms.toFixed(0)} ms, p99 ${row.p99Ms.toFixed(0)} ms, ${row.errors} errors`);
        runs[n].push(row);
      }
    }
    const rows = Object.fromEntries(ROWS.map((n) => [n, {
      throughput: median(runs[n].map((x) => x.throughput)), p50Ms: median(runs[n].map((x) => x.p50Ms)), p99Ms: median(runs[n].map((x) => x.p99Ms)),
      errors: runs[n].reduce((s, x) => s + x.errors, 0),
    }])) as Record<RowName, Row>;
    const out = `${date.replace(/[:.]/g, '-')}-pipeline${QUICK ? '-quick' : ''}.json`;
    const section = pipelineSection({ date, file: out, rows, loadavg: load0, meanBatch });
    log(section);
    writeResults(out, { date, quick: QUICK, machine: machine(), loadavg: load0, concurrency: CONCURRENCY, threads: THREADS, meanBatch, rows, runs }, 'pipeline', section, QUICK);
    log(`wrote bench/results/${out}`);
  } finally {
    py.stop();
    await d.stop();
  }
}

await main();
