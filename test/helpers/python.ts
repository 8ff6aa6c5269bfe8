// Python for tests: the pinned virtualenvs of scripts/python-envs.json (built by scripts/pyenv.mjs),
// the test models made by MLflow's own client (test/fixtures/python/make_models.py), and a Python
// replica spawned the way the daemon's supervisor spawns replicas, spoken to with src/runtime/frame.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { TestDaemon } from './daemon.js';
import { encodeFrame, FrameDecoder, type DecodedFrame } from '../../src/runtime/frame.js';
import { PYTHON_REPLICA_MAIN, type FromPythonReplica, type PythonReplicaConfig } from '../../src/runtime/python/index.js';
import type { Tensor } from '../../src/tensor.js';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const MAKE_MODELS = join(REPO, 'test', 'fixtures', 'python', 'make_models.py');

/** Run a command (argument array, no shell); stdout collected, stderr forwarded (progress) and kept. */
function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    let out = '';
    const err: string[] = [];
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      process.stderr.write(c);
      err.push(c.toString('utf8'));
      if (err.length > 400) err.shift();
    });
    child.on('error', (e) => reject(new Error(`cannot run ${cmd}: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(out);
      else {
        const tail = err.join('').split('\n').slice(-40).join('\n');
        reject(new Error(`${basename(cmd)} ${args.map((a) => basename(a)).join(' ')} failed (${signal ?? `exit ${code}`}):\n${tail}`));
      }
    });
  });
}

const envs = new Map<string, Promise<string>>();

/** The python of pinned env `name`, built by scripts/pyenv.mjs on first use (minutes when cold). */
export function pythonEnv(name: string): Promise<string> {
  let p = envs.get(name);
  if (!p) {
    p = run(process.execPath, [join(REPO, 'scripts', 'pyenv.mjs'), name]).then((out) => {
      const python = out.trim().split('\n').pop() ?? '';
      if (!python || !existsSync(python)) throw new Error(`scripts/pyenv.mjs ${name} printed no python path (got '${out.trim()}')`);
      return python;
    });
    envs.set(name, p);
  }
  return p;
}

export interface TensorJson {
  name: string;
  datatype: Tensor['datatype'];
  shape: number[];
  data: Array<number | string | boolean>;
}

export interface ArrayJson {
  dtype: string;
  shape: number[];
  data: Array<number | string | boolean>;
}

export type PredictionJson =
  | ({ kind: 'ndarray' | 'list' } & ArrayJson)
  | ({ kind: 'series'; name: string | null } & ArrayJson)
  | { kind: 'dataframe'; columns: Array<{ name: string; pandasDtype: string } & ArrayJson> }
  | { kind: 'error'; type: string; message: string };

export interface PythonModelFixture {
  name: string;
  version: number;
  aliases: string[];
  /** The local directory holding MLmodel. */
  modelDir: string;
  source: string;
  flavors: string[];
  /** Inputs as OIP tensors and what mlflow.pyfunc.load_model(modelDir).predict gave for them. */
  examples: Array<{ name: string; inputs: TensorJson[]; params: Record<string, unknown> | null; requests?: number[]; expected: PredictionJson }>;
  /** /invocations bodies and what MLflow's own scoring server answered. */
  invocations: Array<{ name: string; body: string; status: number; contentType: string; response: string; json: unknown }>;
}

export interface PythonModels {
  mlflow: string;
  python: string;
  trackingUri: string;
  /** The folder holding mlruns/ and models.json. */
  dir: string;
  models: Record<string, PythonModelFixture>;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** mkdir lock with the holder's pid; a lock whose holder is gone is taken over. */
async function withLock<T>(lockDir: string, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, 'pid'), `${process.pid}\n`);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let pid = NaN;
    try {
      pid = Number.parseInt(readFileSync(join(lockDir, 'pid'), 'utf8'), 10);
    } catch {}
    let stale = false;
    if (Number.isNaN(pid)) {
      try {
        stale = Date.now() - statSync(lockDir).mtimeMs > 30_000;
      } catch {
        continue;
      }
    } else stale = !pidAlive(pid);
    if (stale) rmSync(lockDir, { recursive: true, force: true });
    else await new Promise((r) => setTimeout(r, 300));
  }
  try {
    return await fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

const made = new Map<string, Promise<string>>();

/**
 * Run a fixture script once with an env's python into .cache/fixtures/<hash of the script and the
 * python>/ (which it fills, writing `resultFile` last); returns that folder. Reused across runs and
 * processes (a lock folder serialises makers; a half-made folder from a killed run is made again).
 */
export function makeFixtures(script: string, env: string, resultFile: string): Promise<string> {
  let p = made.get(script);
  if (!p) {
    p = (async () => {
      const python = await pythonEnv(env);
      const hash = createHash('sha256').update(readFileSync(script)).update('\0').update(python).digest('hex').slice(0, 12);
      const root = join(REPO, '.cache', 'fixtures');
      const dir = join(root, hash);
      if (existsSync(join(dir, resultFile))) return dir;
      mkdirSync(root, { recursive: true });
      return withLock(`${dir}.lock`, async () => {
        if (existsSync(join(dir, resultFile))) return dir;
        rmSync(dir, { recursive: true, force: true });
        await run(python, [script, dir]);
        return dir;
      });
    })();
    made.set(script, p);
  }
  return p;
}

/** The test models made by make_models.py (with the `pyfunc` env), and its parsed models.json. */
export async function makePythonModels(): Promise<PythonModels> {
  const dir = await makeFixtures(MAKE_MODELS, 'pyfunc', 'models.json');
  return { ...(JSON.parse(readFileSync(join(dir, 'models.json'), 'utf8')) as Omit<PythonModels, 'dir'>), dir };
}

export interface VisionFixtures {
  torch: string;
  torchvision: string;
  pillow: string;
  /** A model directory: model.onnx (torchvision's resnet50, random weights) and labels.txt. */
  model_dir: string;
  resize: number;
  crop: number;
  images: Record<string, { path: string; tensor: string; top5: number[]; labels: string[]; scores: number[]; gap56: number }>;
}

/** The image-pipeline fixtures of make_vision_models.py: a ResNet-50, images, torchvision's answers. */
export async function makeVisionModels(): Promise<VisionFixtures> {
  const dir = await makeFixtures(join(REPO, 'test', 'fixtures', 'python', 'make_vision_models.py'), 'pyfunc', 'reference.json');
  return JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as VisionFixtures;
}

export interface TextFixtures {
  transformers: string;
  sentence_transformers: string;
  tokenizers: string;
  /** A model directory: model.onnx (MiniLM's encoder: token inputs -> last_hidden_state) and the tokenizer files. */
  model_dir: string;
  max_seq_length: number;
  /** Per sentence: the Rust tokenizers' ids (truncated to max_seq_length), the untruncated count, sentence-transformers' embedding. */
  sentences: Array<{ text: string; ids: number[]; tokens: number; embedding: number[] }>;
}

/** The text-pipeline fixtures of make_text_models.py: all-MiniLM-L6-v2 as ONNX, sentences, their ids and embeddings. */
export async function makeTextModels(): Promise<TextFixtures> {
  const dir = await makeFixtures(join(REPO, 'test', 'fixtures', 'python', 'make_text_models.py'), 'pyfunc', 'reference.json');
  return JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as TextFixtures;
}

/** A Python replica process with its framed pipe on fd 3, as src/daemon/supervisor.ts starts one. */
export class PythonReplicaProcess {
  readonly child: ChildProcess;
  readonly pipe: Duplex;
  readonly logFile: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly decoder = new FrameDecoder();
  private readonly queue: DecodedFrame<FromPythonReplica>[] = [];
  private waiters: Array<() => void> = [];
  private nextId = 1;

  constructor(python: string, config: PythonReplicaConfig, opts: { logFile?: string; env?: NodeJS.ProcessEnv; args?: string[] } = {}) {
    this.logFile = opts.logFile ?? join(tmpdir(), `mlserve-pyreplica-${process.pid}`, `${config.deployment}-${config.replica}-${Date.now()}.log`);
    mkdirSync(dirname(this.logFile), { recursive: true });
    const fd = openSync(this.logFile, 'a', 0o600);
    this.child = spawn(python, [...(opts.args ?? []), PYTHON_REPLICA_MAIN, JSON.stringify(config)], {
      stdio: ['ignore', fd, fd, 'pipe'],
      env: { ...process.env, ...opts.env },
    });
    closeSync(fd);
    this.pipe = this.child.stdio[3] as Duplex;
    this.pipe.on('data', (chunk: Buffer) => {
      for (const f of this.decoder.push(chunk)) this.queue.push(f as DecodedFrame<FromPythonReplica>);
      this.wake();
    });
    this.pipe.on('error', () => {});
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        resolve({ code, signal });
        this.wake();
      });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The next message that `match` accepts (earlier unmatched ones stay queued). */
  async next(match: (m: FromPythonReplica) => boolean = () => true, timeoutMs = 60_000): Promise<DecodedFrame<FromPythonReplica>> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const i = this.queue.findIndex((f) => match(f.header));
      if (i >= 0) return this.queue.splice(i, 1)[0]!;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        // Let a frame that arrived just before the exit through.
        await new Promise((r) => setTimeout(r, 50));
        const j = this.queue.findIndex((f) => match(f.header));
        if (j >= 0) return this.queue.splice(j, 1)[0]!;
        throw new Error(`replica exited (${this.child.exitCode ?? this.child.signalCode}) without the expected message; log:\n${this.log()}`);
      }
      const left = end - Date.now();
      if (left <= 0) throw new Error(`no matching message from the replica in ${timeoutMs} ms; log:\n${this.log()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  ready(timeoutMs = 120_000) {
    return this.next((m) => m.t === 'ready' || m.t === 'fatal', timeoutMs);
  }

  send(header: object, tensors: Tensor[] = []): void {
    for (const part of encodeFrame(header, tensors)) this.pipe.write(part);
  }

  /** Send a message with a fresh id and wait for the answer with that id. */
  async request(header: Record<string, unknown>, tensors: Tensor[] = [], timeoutMs = 60_000) {
    const id = this.nextId++;
    this.send({ ...header, id }, tensors);
    return this.next((m) => 'id' in m && m.id === id, timeoutMs);
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Close the pipe: the replica exits by itself. */
  close(): void {
    this.pipe.end();
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/**
 * MLflow prints Python sets in its messages ({'inputs', 'instances', ...}), whose order changes from
 * process to process (hash seeds), even between two runs of `mlflow models serve`: sort them.
 */
export function normalizeMlflowMessage(message: unknown): unknown {
  if (typeof message !== 'string') return message;
  return message.replace(/\{('[^'{}]*'(?:, '[^'{}]*')*)\}/g, (_m, inner: string) => `{${inner.split(', ').sort().join(', ')}}`);
}

/** A test daemon that serves the Python test models: their file store as MLflow's tracking URI, the pyfunc env as its Python. */
export async function pythonDaemon(extraEnv: Record<string, string> = {}): Promise<{ d: TestDaemon; fx: PythonModels; python: string }> {
  const python = await pythonEnv('pyfunc');
  const fx = await makePythonModels();
  const d = new TestDaemon({ MLFLOW_TRACKING_URI: fx.trackingUri, MLSERVE_PYTHON: python, ...extraEnv });
  await d.start();
  return { d, fx, python };
}
