// `node dist/bench/peers.js [--quick]` (also `npm run bench -- --peers` or `--only peers`): mlserve
// beside the servers an operator would otherwise pick, one at a time on this machine, on the same
// model files and the same load:
//   raw onnxruntime-node in-process at its best batch (the limit), a naive node:http server,
//   mlserve with default flags (OIP JSON and binary), Ray Serve (@serve.batch around onnxruntime,
//   peer_ray_serve.py), MLServer with its MLflow runtime, and `mlflow models serve`.
// Models: a tiny MLP, MobileNetV2 and ResNet-50 (PyTorch/torchvision exports with seeded weights,
// logged with MLflow's client by peer_models.py). Each server answers one check request first, compared
// with raw onnxruntime's answer. Load: wrk when installed, else the suite's own generator (each row
// records which). The peers run from pinned virtualenvs (scripts/pyenv.mjs peer_ray, peer_mlserver),
// built on first use. Writes bench/results/<date>-peers.json and the peers section of BENCH.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import * as ort from 'onnxruntime-node';
import { request } from 'undici';
import type { RequestSpec } from './load.js';
import { formatPeers, peerGoals, peersMarkdown, type PeerModel, type PeerRow, type PeersResult, type ServerId } from './peers-report.js';
import { LOAD_GENERATOR, log, machine, measure, Mlserve, ROOT, stopGroup, writeResults } from './suite-common.js';
import { freePort, MlflowServe } from './suite-python.js';
import { runWrk, WRK_GENERATOR, WRK_INSTALL_HINT, wrkInstalled } from './wrk.js';

const QUICK = process.argv.includes('--quick');
/** `--model <id>` and `--server <id>` (each repeatable) narrow a run, for profiling one row; such a run writes no BENCH.md. */
const argValues = (flag: string) => process.argv.flatMap((a, i) => (a === flag && process.argv[i + 1] ? [process.argv[i + 1]!] : a.startsWith(`${flag}=`) ? [a.slice(flag.length + 1)] : []));
const ONLY_MODELS = argValues('--model');
const ONLY_SERVERS = argValues('--server');
const PARTIAL = ONLY_MODELS.length > 0 || ONLY_SERVERS.length > 0;
const DIST = fileURLToPath(new URL('./', import.meta.url));
const TIMING = { durationMs: QUICK ? 3000 : 8000, warmupMs: QUICK ? 1000 : 2000 };
const C1_TIMING = { durationMs: QUICK ? 2000 : 5000, warmupMs: 1000 };
const CONNECTIONS = 64;
const RAW_SECONDS = QUICK ? 1.5 : 3;
const PEER_MAX_BATCH = 32;
const THREADS = availableParallelism();
/**
 * The vision models run longer: at 64 connections a batch cycle takes about a second, and a closed
 * loop started on an idle server spends its first cycle filling the pipeline (an 8 s row read 0.77x
 * raw ORT where 30 s read 0.90x on the same daemon).
 */
const MODELS: { id: string; rawBatches: number[]; durationMs: number }[] = [
  { id: 'tiny_mlp', rawBatches: [1, 64], durationMs: TIMING.durationMs },
  { id: 'mobilenet_v2', rawBatches: QUICK ? [1, 4] : [1, 2, 4, 8], durationMs: QUICK ? TIMING.durationMs : 20_000 },
  { id: 'resnet50', rawBatches: QUICK ? [1, 2] : [1, 2, 4, 8], durationMs: QUICK ? TIMING.durationMs : 20_000 },
];

interface FixtureModel { registeredName: string; version: number; modelDir: string; onnx: string; input: string; rowShape: number[] }
interface Fixtures { trackingUri: string; torch: string; torchvision: string; mlflow: string; models: Record<string, FixtureModel> }

const say = (started: number) => (m: string) => log(`  [${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${m}`);

/** The python of a pinned env, built (with its progress on stderr) when missing. */
async function envPython(name: string): Promise<string> {
  const r = await execa(process.execPath, [join(ROOT, 'scripts', 'pyenv.mjs'), name], { stderr: 'inherit' });
  return String(r.stdout).trim().split('\n').pop()!;
}

/** The models, in .cache/fixtures/peers-<hash of peer_models.py and the python>/, made when missing. */
async function fixtures(python: string): Promise<Fixtures> {
  const script = join(ROOT, 'src', 'bench', 'peer_models.py');
  const hash = createHash('sha256').update(readFileSync(script)).update('\0').update(python).digest('hex').slice(0, 12);
  const dir = join(ROOT, '.cache', 'fixtures', `peers-${hash}`);
  if (!existsSync(join(dir, 'models.json'))) {
    log(`making the models (PyTorch/torchvision exports, logged with MLflow): ${script} -> ${dir}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dirname(dir), { recursive: true });
    await execa(python, [script, dir], { stdout: 'inherit', stderr: 'inherit' });
  }
  return JSON.parse(readFileSync(join(dir, 'models.json'), 'utf8')) as Fixtures;
}

/** Seeded inputs in [-1, 1). */
function rowData(n: number): Float32Array {
  const out = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) out[i] = ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296) * 2 - 1;
  return out;
}

/** Nested arrays of `shape` over flat `data` (for MLflow's /invocations tensor input). */
function nest(data: Float32Array, shape: number[], offset = 0): unknown[] {
  const [d, ...rest] = shape;
  const step = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: d! }, (_, i) => (rest.length === 0 ? data[offset + i] : nest(data, rest, offset + i * step)));
}

function flatten(v: unknown, out: number[] = []): number[] {
  if (Array.isArray(v)) for (const x of v) flatten(x, out);
  else if (typeof v === 'number') out.push(v);
  else if (v && typeof v === 'object') for (const x of Object.values(v)) flatten(x, out);
  return out;
}

interface Requests { v2: RequestSpec; binary: RequestSpec; invocations: RequestSpec }

function requests(endpoint: string, input: string, shape: number[], data: Float32Array): Requests {
  const json = { 'content-type': 'application/json' };
  const v2 = Buffer.from(JSON.stringify({ inputs: [{ name: input, shape, datatype: 'FP32', data: Array.from(data) }] }));
  const head = Buffer.from(JSON.stringify({ inputs: [{ name: input, shape, datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }], parameters: { binary_data_output: true } }));
  return {
    v2: { path: `/v2/models/${endpoint}/infer`, headers: json, body: v2 },
    binary: {
      path: `/v2/models/${endpoint}/infer`,
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(head.length) },
      body: Buffer.concat([head, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]),
    },
    // The logged signature is an unnamed tensor (infer_signature of an array): MLflow takes one nested array.
    invocations: { path: '/invocations', headers: json, body: Buffer.from(JSON.stringify({ inputs: nest(data, shape) })) },
  };
}

/** A server under test: its URL, the request it takes, and how to stop it. */
interface Running { url: string; requests: Partial<Record<'json' | 'binary' | 'shm', RequestSpec>>; stop: () => Promise<void>; meanBatch?: (fn: () => Promise<PeerRow>) => Promise<PeerRow> }

async function waitReady(url: string, child: ChildProcess, logFile: string, what: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    const status = await request(url).then(async (r) => (await r.body.dump(), r.statusCode), () => 0);
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-25).join('\n') : '(no log)';
  throw new Error(`${what} did not become ready at ${url}:\n${tail}`);
}

/** Spawn `cmd` detached with its output in a log file. */
function spawnLogged(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): { child: ChildProcess; logFile: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mlserve-peer-'));
  const logFile = join(dir, 'server.log');
  const fd = openSync(logFile, 'a');
  const child = spawn(cmd, args, { env, cwd: cwd ?? dir, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  child.on('error', () => {});
  return { child, logFile, dir };
}

async function startNaive(fx: FixtureModel, reqs: Requests): Promise<Running> {
  const child = spawn(process.execPath, [join(DIST, 'naive-server.js'), fx.onnx, String(THREADS)], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(JSON.parse(d.toString()).port));
    child.once('exit', () => reject(new Error('naive server exited')));
  });
  return { url: `http://127.0.0.1:${port}`, requests: { json: { ...reqs.v2, path: '/v2/models/naive/infer' } }, stop: () => stopGroup(child, 10_000) };
}

async function startMlserve(fx: FixtureModel, fxs: Fixtures, id: string, reqs: Requests, data: Float32Array, shape: number[]): Promise<Running> {
  const daemon = new Mlserve({ MLFLOW_TRACKING_URI: fxs.trackingUri });
  // The input also in a /dev/shm object, registered as a region: the shared-memory row sends only a reference.
  const shmFile = `/dev/shm/mlserve-bench-${process.pid}-${id}`;
  const cleanup = async () => {
    await daemon.stop();
    rmSync(shmFile, { force: true });
  };
  let shm: RequestSpec | undefined;
  try {
    // --allow-client-shm: used only by the shared-memory row; every other setting is the default.
    await daemon.start(existsSync('/dev/shm') ? ['--allow-client-shm'] : []);
    // Default flags: what the hidden check and an operator's first deploy use.
    await daemon.cli(['deploy', `models:/${fx.registeredName}/${fx.version}`, '--endpoint', id]);
    if (existsSync('/dev/shm')) {
      writeFileSync(shmFile, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      const reg = await request(`${daemon.url}/v2/systemsharedmemory/region/in0/register`, { method: 'POST', body: JSON.stringify({ key: `/${shmFile.slice('/dev/shm/'.length)}`, byte_size: data.byteLength }) });
      if (reg.statusCode !== 200) throw new Error(`registering the shared-memory region: HTTP ${reg.statusCode} ${await reg.body.text()}`);
      await reg.body.dump();
      shm = {
        path: `/v2/models/${id}/infer`, headers: { 'content-type': 'application/json' },
        body: Buffer.from(JSON.stringify({ inputs: [{ name: fx.input, shape, datatype: 'FP32', parameters: { shared_memory_region: 'in0', shared_memory_byte_size: data.byteLength } }] })),
      };
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
  return {
    url: daemon.url,
    requests: { json: reqs.v2, binary: reqs.binary, ...(shm ? { shm } : {}) },
    stop: cleanup,
    meanBatch: async (fn) => {
      const r = await daemon.withMeanBatch(id, fn);
      return { ...r.value, meanBatch: r.meanBatch };
    },
  };
}

async function startRay(python: string, fx: FixtureModel, reqs: Requests): Promise<Running> {
  const port = await freePort();
  const { child, logFile, dir } = spawnLogged(python, [join(ROOT, 'src', 'bench', 'peer_ray_serve.py'), fx.onnx, String(port), String(THREADS), String(PEER_MAX_BATCH)], { ...process.env, RAY_USAGE_STATS_ENABLED: '0', PYTHONUNBUFFERED: '1' });
  const stop = async () => {
    await stopGroup(child, 10_000);
    // Ray's own daemons (GCS, raylet) may outlive the driver's group.
    await execa(join(dirname(python), 'ray'), ['stop', '--force'], { reject: false });
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  try {
    const deadline = Date.now() + 300_000;
    while (!readFileSync(logFile, 'utf8').includes('READY')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`Ray Serve did not start:\n${readFileSync(logFile, 'utf8').split('\n').slice(-25).join('\n')}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, requests: { json: { ...reqs.v2, path: '/v2/models/m/infer' } }, stop };
}

async function startMlserver(python: string, fx: FixtureModel, reqs: Requests): Promise<Running> {
  const [http, grpc, metrics] = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'mlserve-mlserver-'));
  writeFileSync(join(dir, 'settings.json'), JSON.stringify({ host: '127.0.0.1', http_port: http, grpc_port: grpc, metrics_port: metrics }));
  // Adaptive batching as MLServer's docs describe it, with Ray Serve's and mlserve's limits.
  writeFileSync(join(dir, 'model-settings.json'), JSON.stringify({ name: 'm', implementation: 'mlserver_mlflow.MLflowRuntime', max_batch_size: PEER_MAX_BATCH, max_batch_time: 0.005, parameters: { uri: fx.modelDir } }));
  const s = spawnLogged(join(dirname(python), 'mlserver'), ['start', dir], { ...process.env, PYTHONUNBUFFERED: '1' });
  const stop = async () => {
    await stopGroup(s.child, 10_000);
    rmSync(dir, { recursive: true, force: true });
    rmSync(s.dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${http}`;
  try {
    await waitReady(`${url}/v2/models/m/ready`, s.child, s.logFile, 'MLServer');
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, requests: { json: { ...reqs.v2, path: '/v2/models/m/infer' } }, stop };
}

async function startMlflow(python: string, fx: FixtureModel, reqs: Requests): Promise<Running> {
  const serve = new MlflowServe();
  try {
    await serve.start(python, fx.modelDir);
  } catch (err) {
    await serve.stop();
    throw err;
  }
  return { url: serve.url, requests: { json: reqs.invocations }, stop: () => serve.stop() };
}

async function answer(url: string, r: RequestSpec): Promise<number[]> {
  const res = await request(`${url}${r.path}`, { method: 'POST', headers: r.headers, body: r.body, headersTimeout: 120_000, bodyTimeout: 120_000 });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
  const doc = JSON.parse(text) as { outputs?: { data: unknown }[]; predictions?: unknown };
  return flatten(doc.outputs ? doc.outputs[0]!.data : doc.predictions);
}

/**
 * Each load generator against a constant-reply server, at the rows' 64 connections with the tiny
 * MLP's body: the most it can measure here (the built-in one's ceiling is what `mlserve bench` and
 * the suite's fallback can show).
 */
async function generatorCeilings(body: RequestSpec, useWrk: boolean): Promise<PeersResult['generators']> {
  const child = spawn(process.execPath, [join(DIST, 'constant-server.js')], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(JSON.parse(d.toString()).port));
    child.once('exit', () => reject(new Error('constant server exited')));
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    const out: PeersResult['generators'] = { builtin: { ...(await measure(url, body, CONNECTIONS, TIMING)), generator: LOAD_GENERATOR } };
    if (useWrk) out.wrk = { ...(await runWrk(url, body, CONNECTIONS, TIMING)), generator: WRK_GENERATOR };
    return out;
  } finally {
    await stopGroup(child, 10_000);
  }
}

const maxDiff = (a: number[], b: Float32Array) => (a.length !== b.length ? Infinity : a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0));

async function main(): Promise<void> {
  const started = Date.now();
  const step = say(started);
  const useWrk = wrkInstalled();
  const generator = useWrk ? WRK_GENERATOR : LOAD_GENERATOR;
  log(`== Peers: mlserve vs Ray Serve, MLServer, mlflow models serve (load: ${generator}${useWrk ? '' : `; ${WRK_INSTALL_HINT}`})`);
  const pyfunc = await envPython('pyfunc');
  const fxs = await fixtures(pyfunc);
  const wants = (s: ServerId) => ONLY_SERVERS.length === 0 || ONLY_SERVERS.includes(s);
  const rayPython = wants('ray') ? await envPython('peer_ray') : '';
  const mlserverPython = wants('mlserver') ? await envPython('peer_mlserver') : '';
  const version = async (python: string, mod: string) => (python ? String((await execa(python, ['-c', `import importlib.metadata as m; print(m.version("${mod}"))`])).stdout).trim() : '-');
  const ortVersion = (await import('onnxruntime-node/package.json', { with: { type: 'json' } })).default.version as string;
  const result: PeersResult = {
    date: new Date(started).toISOString(), quick: QUICK, machine: machine(), generator, connections: CONNECTIONS, durationS: TIMING.durationMs / 1000, threads: THREADS,
    versions: {
      'onnxruntime-node': ortVersion, ray: await version(rayPython, 'ray'), mlserver: await version(mlserverPython, 'mlserver'),
      mlflow: await version(pyfunc, 'mlflow'), 'onnxruntime (Python)': await version(pyfunc, 'onnxruntime'), torch: fxs.torch, torchvision: fxs.torchvision,
    },
    models: [], goals: [], elapsedS: 0, generators: { builtin: { throughput: 0, p50Ms: 0, p99Ms: 0, errors: 0, generator: LOAD_GENERATOR } },
  };
  {
    const fx = fxs.models.tiny_mlp!;
    result.generators = await generatorCeilings(requests('tiny_mlp', fx.input, [1, ...fx.rowShape], rowData(64)).v2, useWrk);
    log(`load generators against a constant-reply server, ${CONNECTIONS} connections: built-in ${result.generators.builtin.throughput.toFixed(0)} req/s${result.generators.wrk ? `, wrk ${result.generators.wrk.throughput.toFixed(0)} req/s` : ''}`);
  }
  const go = (url: string, r: RequestSpec, c: number, t: typeof TIMING): Promise<PeerRow> =>
    (useWrk ? runWrk(url, r, c, t) : measure(url, r, c, t)).then((row) => ({ ...row, generator }));

  for (const { id, rawBatches, durationMs } of MODELS.filter((x) => ONLY_MODELS.length === 0 || ONLY_MODELS.includes(x.id))) {
    const fx = fxs.models[id]!;
    const shape = [1, ...fx.rowShape];
    const data = rowData(shape.reduce((a, b) => a * b, 1));
    const reqs = requests(id, fx.input, shape, data);
    const m: PeerModel = { id, rowShape: fx.rowShape, raw: [], load: {}, c1: {}, mismatches: {}, failed: {} };
    log(`\n== ${id} [${fx.rowShape.join('x')}]`);
    for (const b of rawBatches) {
      const r = await execa(process.execPath, [join(DIST, 'raw-ort.js'), fx.onnx, String(THREADS), String(b), String(RAW_SECONDS)]);
      const run = JSON.parse(String(r.stdout));
      m.raw.push(run);
      step(`raw ORT batch ${b}: ${run.samplesPerSec.toFixed(1)} samples/s`);
    }
    const session = await ort.InferenceSession.create(fx.onnx, { intraOpNumThreads: THREADS });
    const want = (await session.run({ [fx.input]: new ort.Tensor('float32', data, shape) }))[session.outputNames[0]!]!.data as Float32Array;
    await session.release();

    const starters: [ServerId[], () => Promise<Running>][] = [
      [['naive'], () => startNaive(fx, reqs)],
      [['mlserve', 'mlserveBinary', 'mlserveShm'], () => startMlserve(fx, fxs, id, reqs, data, shape)],
      [['ray'], () => startRay(rayPython, fx, reqs)],
      [['mlserver'], () => startMlserver(mlserverPython, fx, reqs)],
      [['mlflow'], () => startMlflow(pyfunc, fx, reqs)],
    ];
    for (const [ids, start] of starters.filter(([ids]) => ONLY_SERVERS.length === 0 || ids.some((x) => ONLY_SERVERS.includes(x)))) {
      let running: Running;
      try {
        running = await start();
      } catch (err) {
        for (const s of ids) m.failed[s] = (err as Error).message.split('\n')[0]!.slice(0, 200);
        step(`${ids[0]}: could not start: ${(err as Error).message}`);
        continue;
      }
      try {
        const json = running.requests.json!;
        const got = await answer(running.url, json);
        const d = maxDiff(got, want);
        if (!(d <= 1e-3 * Math.max(1, ...Array.from(want, Math.abs)))) m.mismatches[ids[0]!] = d;
        step(`${ids[0]}: up at ${running.url}; answer ${Number.isFinite(d) ? `within ${d.toExponential(1)} of raw ORT` : `has ${got.length} values, raw ORT ${want.length}`}`);
        for (const s of ids) {
          const r = s === 'mlserveBinary' ? running.requests.binary! : s === 'mlserveShm' ? running.requests.shm : json;
          if (!r) continue;
          const measureRow = () => go(running.url, r, CONNECTIONS, { ...TIMING, durationMs });
          m.load[s] = running.meanBatch ? await running.meanBatch(measureRow) : await measureRow();
          step(`${s}, ${CONNECTIONS} connections: ${m.load[s]!.throughput.toFixed(1)} req/s, p50 ${m.load[s]!.p50Ms.toFixed(2)} ms, p99 ${m.load[s]!.p99Ms.toFixed(2)} ms, errors ${m.load[s]!.errors}${m.load[s]!.meanBatch ? `, mean batch ${m.load[s]!.meanBatch!.toFixed(1)}` : ''}`);
          if (s !== 'mlserveBinary' && s !== 'mlserveShm') {
            m.c1[s] = await go(running.url, r, 1, C1_TIMING);
            step(`${s}, 1 connection: p50 ${m.c1[s]!.p50Ms.toFixed(3)} ms`);
          }
        }
      } catch (err) {
        for (const s of ids) if (!m.load[s]) m.failed[s] = (err as Error).message.split('\n')[0]!.slice(0, 200);
        step(`${ids[0]}: failed: ${(err as Error).message}`);
      } finally {
        await running.stop();
      }
    }
    result.models.push(m);
  }
  result.goals = peerGoals(result.models, CONNECTIONS);
  result.elapsedS = (Date.now() - started) / 1000;
  const table = formatPeers(result);
  process.stdout.write(`\n${table}\n`);
  const file = `${result.date.replace(/[:.]/g, '-')}-peers${QUICK ? '-quick' : ''}${PARTIAL ? '-partial' : ''}.json`;
  writeResults(file, result, 'peers', peersMarkdown(result, `bench/results/${file}`), QUICK || PARTIAL);
  log(`results: bench/results/${file}${QUICK || PARTIAL ? '' : '; BENCH.md updated'} (${result.elapsedS.toFixed(0)}s)`);
}

await main();
