// The Python section of `npm run bench`: iris_sklearn (a scikit-learn Pipeline logged by
// test/fixtures/python/make_models.py into a file store) served three ways on this machine:
//   (1) mlserve, `deploy models:/iris_sklearn/1` with default settings (one Python replica), vs
//       `mlflow models serve -m <dir> --env-manager local` with its default workers, the same 1-row
//       dataframe_split body at 64 connections and at concurrency 1 (plus mlserve's OIP JSON form);
//   (2) model.predict in a Python loop in-process (pyfunc_loop.py) vs mlserve fed OIP requests of the
//       same N rows at 8 connections.
// Both servers are driven by the suite's own load generator (load.ts). Needs the pinned `pyfunc` env
// (scripts/pyenv.mjs, built on first use); the models are cached in .cache/fixtures/ as the tests do.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import { request } from 'undici';
import type { RequestSpec } from './load.js';
import { LOAD_GENERATOR, log, measure, Mlserve, ROOT, stopGroup, type Timing } from './suite-common.js';
import { bestPerBatch, dataframeSplitBody, oipColumnsBody, pythonGoals, type InProcessRun, type PyRow, type PythonSectionResult, type ServedBatchRow } from './suite-python-report.js';

const MAKE_MODELS = join(ROOT, 'test', 'fixtures', 'python', 'make_models.py');
const LOOP = join(ROOT, 'src', 'bench', 'pyfunc_loop.py');
const MODEL = 'iris_sklearn';
const ENDPOINT = 'iris';
const CONCURRENCY = 64;
const OVERHEAD_CONCURRENCY = 8;
/** Iris-like rows (sepal length, sepal width, petal length, petal width): one of each class. */
const ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 2.8, 4.3, 1.3]];
const JSON_HEADERS = { 'content-type': 'application/json' };

export interface PythonSectionOptions {
  quick: boolean;
  timing: Timing;
  /** Seconds of back-to-back predict per batch size in-process. */
  inProcessSeconds: number;
  cpus: number;
}

/** The pinned `pyfunc` env's python (scripts/pyenv.mjs builds the env when it is missing). */
async function pyfuncPython(): Promise<string> {
  const r = await execa(process.execPath, [join(ROOT, 'scripts', 'pyenv.mjs'), 'pyfunc', '--quiet'], { stderr: 'inherit' });
  const python = String(r.stdout).trim().split('\n').pop() ?? '';
  if (!python || !existsSync(python)) throw new Error(`scripts/pyenv.mjs pyfunc printed no python path (got '${r.stdout}')`);
  return python;
}

const pidAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * The test models in .cache/fixtures/<hash of make_models.py and the python>/, made when missing:
 * the same folder and lock (a directory holding the maker's pid) as test/helpers/python.ts.
 */
async function fixtures(python: string): Promise<{ trackingUri: string; modelDir: string; columns: string[] }> {
  const hash = createHash('sha256').update(readFileSync(MAKE_MODELS)).update('\0').update(python).digest('hex').slice(0, 12);
  const dir = join(ROOT, '.cache', 'fixtures', hash);
  const file = join(dir, 'models.json');
  if (!existsSync(file)) {
    mkdirSync(dirname(dir), { recursive: true });
    const lock = `${dir}.lock`;
    for (;;) {
      try {
        mkdirSync(lock);
        writeFileSync(join(lock, 'pid'), `${process.pid}\n`);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      let pid = NaN;
      try {
        pid = Number.parseInt(readFileSync(join(lock, 'pid'), 'utf8'), 10);
      } catch {}
      let stale: boolean;
      try {
        stale = Number.isNaN(pid) ? Date.now() - statSync(lock).mtimeMs > 30_000 : !pidAlive(pid);
      } catch {
        continue;
      }
      if (stale) rmSync(lock, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 300));
    }
    try {
      if (!existsSync(file)) {
        log(`  making the test models (make_models.py -> ${dir})`);
        rmSync(dir, { recursive: true, force: true });
        await execa(python, [MAKE_MODELS, dir], { cwd: ROOT });
      }
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
  const doc = JSON.parse(readFileSync(file, 'utf8'));
  const m = doc.models[MODEL];
  return { trackingUri: doc.trackingUri, modelDir: m.modelDir, columns: m.examples[0].inputs.map((t: { name: string }) => t.name) };
}

export const freePort = () => new Promise<number>((resolve, reject) => {
  const s = createServer();
  s.once('error', reject);
  s.listen(0, '127.0.0.1', () => {
    const port = (s.address() as { port: number }).port;
    s.close(() => resolve(port));
  });
});

/** `mlflow models serve` in its own process group (uvicorn is its child), stopped as a group. */
export class MlflowServe {
  readonly command = 'mlflow models serve -m <model dir> --env-manager local';
  /** No --workers and MLFLOW_MODELS_WORKERS unset: MLflow's default, one uvicorn worker. */
  readonly workers = '1';
  url = '';
  private child?: ChildProcess;
  private readonly logDir = mkdtempSync(join(tmpdir(), 'mlserve-bench-mlflow-'));
  private readonly logFile = join(this.logDir, 'serve.log');

  async start(python: string, modelDir: string): Promise<void> {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(python)}${delimiter}${process.env.PATH ?? ''}` };
    delete env.MLFLOW_MODELS_WORKERS;
    const fd = openSync(this.logFile, 'a');
    this.child = spawn(python, ['-m', 'mlflow', 'models', 'serve', '-m', modelDir, '--env-manager', 'local', '-h', '127.0.0.1', '-p', String(port)], {
      env, stdio: ['ignore', fd, fd], detached: true,
    });
    closeSync(fd);
    this.child.on('error', () => {});
    this.url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) break;
      const status = await request(`${this.url}/ping`).then(async (r) => (await r.body.dump(), r.statusCode), () => 0);
      if (status === 200) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`mlflow models serve did not answer /ping:\n${this.logTail()}`);
  }

  logTail(): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async stop(): Promise<void> {
    if (this.child) await stopGroup(this.child, 5000);
    rmSync(this.logDir, { recursive: true, force: true });
  }
}

const spec = (path: string, body: string): RequestSpec => ({ path, headers: JSON_HEADERS, body: Buffer.from(body) });

async function post(url: string, r: RequestSpec): Promise<{ status: number; text: string }> {
  const res = await request(`${url}${r.path}`, { method: 'POST', headers: r.headers, body: r.body });
  return { status: res.statusCode, text: await res.body.text() };
}

/** JSON texts equal as values (key order and number spelling aside)? */
const sameJson = (a: string, b: string) => {
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return false;
  }
};

export async function runPythonSection(o: PythonSectionOptions): Promise<PythonSectionResult> {
  const started = Date.now();
  const date = new Date(started).toISOString();
  const say = (m: string) => log(`  [${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${m}`);
  const t = o.timing;
  log(`\n== Python models: ${MODEL} (scikit-learn), mlserve vs mlflow models serve, the replica vs in-process predict`);
  const python = await pyfuncPython();
  const fx = await fixtures(python);
  const batches = o.quick ? [1, 32] : [1, 8, 32];
  const row = (x: Omit<PyRow, 'generator'>): PyRow => ({ ...x, generator: LOAD_GENERATOR });

  // (2a) In-process first, with no server running (and in a full run again at the end: the better
  // pass per batch size counts, so a burst of other load on the machine does not flatter mlserve).
  const inProcessPass = async () => {
    const out = await execa(python, [LOOP, fx.modelDir, String(o.inProcessSeconds), batches.join(','), JSON.stringify(ROWS)], { cwd: ROOT });
    const loop = JSON.parse(String(out.stdout).trim().split('\n').pop()!);
    const runs: InProcessRun[] = loop.runs.map((x: Omit<InProcessRun, 'generator'>) => ({ ...x, generator: 'pyfunc_loop.py (model.predict in-process)' }));
    for (const x of runs) say(`in-process predict, ${x.batch} rows: ${x.rowsPerSec.toFixed(0)} rows/s, p50 ${x.p50Ms.toFixed(3)} ms`);
    return { loop, runs };
  };
  const { loop, runs: inProcess } = await inProcessPass();

  const result: PythonSectionResult = {
    date, quick: o.quick, cpus: o.cpus, durationS: t.durationMs / 1000, model: MODEL,
    env: { interpreter: python, python: loop.python, mlflow: loop.mlflow, sklearn: loop.sklearn, pandas: loop.pandas, numpy: loop.numpy },
    mlflowServe: { command: '', workers: '' }, wrk: which('wrk'), concurrency: CONCURRENCY, overheadConcurrency: OVERHEAD_CONCURRENCY,
    sameAnswer: null, rows: {}, inProcess, served: [], goals: {}, elapsedS: 0,
  };
  if (result.wrk) say(`wrk is installed (${result.wrk}); not used: both servers are measured with load.ts`);

  const daemon = new Mlserve({ MLFLOW_TRACKING_URI: fx.trackingUri, MLSERVE_PYTHON: python });
  const mlflow = new MlflowServe();
  result.mlflowServe = { command: mlflow.command, workers: mlflow.workers };
  const cleanup = async () => {
    await Promise.all([mlflow.stop(), daemon.stop()]);
  };
  const onSignal = () => {
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // Startups overlap (not measured); the measurements run one at a time.
    await Promise.all([
      mlflow.start(python, fx.modelDir),
      daemon.start().then(() => daemon.cli(['deploy', `models:/${MODEL}/1`, '--endpoint', ENDPOINT])),
    ]);
    say(`mlflow models serve (${mlflow.url}) and mlserve (${daemon.url}, endpoint ${ENDPOINT}) are up`);
    const invocations = dataframeSplitBody(fx.columns, ROWS.slice(0, 1));
    const atMlflow = spec('/invocations', invocations);
    const atMlserve = spec(`/${ENDPOINT}/invocations`, invocations);
    const oip = (n: number) => spec(`/v2/models/${ENDPOINT}/infer`, oipColumnsBody(fx.columns, ROWS, n));
    const want = await post(mlflow.url, atMlflow);
    const got = await post(daemon.url, atMlserve);
    const gotOip = await post(daemon.url, oip(1));
    if (want.status !== 200 || got.status !== 200 || gotOip.status !== 200) {
      throw new Error(`a benchmark body failed: mlflow ${want.status} ${want.text.slice(0, 300)}; mlserve /invocations ${got.status} ${got.text.slice(0, 300)}; OIP ${gotOip.status} ${gotOip.text.slice(0, 300)}`);
    }
    result.sameAnswer = sameJson(want.text, got.text);
    say(`/invocations answers: mlflow ${want.text.trim()}, mlserve ${got.text.trim()}${result.sameAnswer ? '' : ' (DIFFERENT)'}`);

    // (1) mlflow models serve, then stop it so it holds no CPU while mlserve is measured.
    result.rows.mlflow = row(await measure(mlflow.url, atMlflow, CONCURRENCY, t));
    say(`mlflow models serve, ${CONCURRENCY} connections: ${result.rows.mlflow.throughput.toFixed(1)} req/s, p50 ${result.rows.mlflow.p50Ms.toFixed(2)} ms`);
    result.rows.mlflowC1 = row(await measure(mlflow.url, atMlflow, 1, t));
    say(`mlflow models serve, concurrency 1: p50 ${result.rows.mlflowC1.p50Ms.toFixed(3)} ms`);
    await mlflow.stop();

    const served = async (r: RequestSpec, concurrency: number): Promise<PyRow> => {
      const { value, meanBatch, computeMsPerBatch } = await daemon.withMeanBatch(ENDPOINT, () => measure(daemon.url, r, concurrency, t));
      return row({ ...value, meanBatch, computeMsPerBatch });
    };
    result.rows.mlserveInvocations = await served(atMlserve, CONCURRENCY);
    say(`mlserve /invocations, ${CONCURRENCY} connections: ${result.rows.mlserveInvocations.throughput.toFixed(1)} req/s, mean batch ${result.rows.mlserveInvocations.meanBatch!.toFixed(1)}`);
    result.rows.mlserveOip = await served(oip(1), CONCURRENCY);
    say(`mlserve OIP JSON, ${CONCURRENCY} connections: ${result.rows.mlserveOip.throughput.toFixed(1)} req/s, mean batch ${result.rows.mlserveOip.meanBatch!.toFixed(1)}`);
    result.rows.mlserveInvocationsC1 = await served(atMlserve, 1);
    result.rows.mlserveOipC1 = await served(oip(1), 1);
    say(`mlserve at concurrency 1: p50 ${result.rows.mlserveInvocationsC1.p50Ms.toFixed(3)} ms /invocations, ${result.rows.mlserveOipC1.p50Ms.toFixed(3)} ms OIP`);

    // (2b) The replica fed N-row requests.
    for (const n of batches) {
      const r = await served(oip(n), OVERHEAD_CONCURRENCY);
      const s: ServedBatchRow = { ...r, batch: n, rowsPerSec: r.throughput * n, meanBatch: r.meanBatch ?? 1 };
      result.served.push(s);
      say(`mlserve OIP, ${n} rows/request, ${OVERHEAD_CONCURRENCY} connections: ${s.rowsPerSec.toFixed(0)} rows/s, ${s.meanBatch.toFixed(1)} requests per predict, replica compute ${s.computeMsPerBatch?.toFixed(2)} ms per predict`);
    }
    if (!o.quick) {
      await daemon.stop();
      const again = (await inProcessPass()).runs;
      result.inProcess = bestPerBatch(result.inProcess, again);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
  result.goals = pythonGoals(result);
  result.elapsedS = (Date.now() - started) / 1000;
  say(`Python section done in ${result.elapsedS.toFixed(0)}s`);
  return result;
}

/** The first `name` on PATH, or null. */
function which(name: string): string | null {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    if (d && existsSync(join(d, name))) return join(d, name);
  }
  return null;
}
