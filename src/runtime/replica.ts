// A replica process: loads one model (in its engine worker thread, engine.ts), then runs the
// batches the daemon sends over fd 3.
// It exits when that pipe closes, so a daemon killed with SIGKILL leaves no replica behind.
import net from 'node:net';
import { encodeFrame, FrameDecoder } from './frame.js';
import type { FromReplica, ReplicaConfig, ToReplica } from './protocol.js';
import type { Tensor } from '../tensor.js';
import { stampStream } from './log-stamp.js';
import { InlineEngine, OrtEngine, type Engine } from './engine.js';
import { INLINE_MAX_MS, onGpu, runInline } from './engine-messages.js';

// Every line this replica writes to its log carries the time (mlserve logs shows and orders by it).
stampStream(process.stdout);
stampStream(process.stderr);

const config = JSON.parse(process.argv[2] ?? '{}') as ReplicaConfig;
const decoder = new FrameDecoder();
/**
 * Reads land where the decoder says (onread): a big batch arrives straight in its frame buffer,
 * in reads as large as the socket gives, instead of 64 KiB chunks allocated and copied one by one.
 */
const scratch: Buffer = Buffer.allocUnsafeSlow(64 * 1024);
let target: Buffer = scratch;
// `onread` is a constructor option since Node 15.8 (@types/node lists it only for connect()).
const pipe = new net.Socket({
  fd: 3, readable: true, writable: true,
  onread: {
    buffer: () => (target = decoder.readTarget(scratch)),
    callback: (n: number) => {
      onBytes(n);
      return true;
    },
  },
} as net.SocketConstructorOpts);

function send(header: FromReplica, tensors: Tensor[] = []): void {
  const parts = encodeFrame(header, tensors);
  pipe.cork();
  for (const p of parts) pipe.write(p);
  process.nextTick(() => pipe.uncork());
}

// The replica's engines (engine.ts): onnxruntime sessions, each in its own worker thread, sharing
// the replica's threads. Batches wait here for a free engine: the daemon sends one more than the
// replica runs, so its bytes cross the pipe while the others compute.
const engineCount = Math.max(1, config.engines ?? 1);
const idle: OrtEngine[] = [];
const waiting: Array<(engine: Engine) => Promise<void>> = [];
// A tiny model's main-thread session (engine.ts InlineEngine): runs a batch when all engines idle.
let inline: InlineEngine | null = null;
let inlineBusy = false;
function next(): void {
  while (waiting.length > 0) {
    if (inline && runInline({ inlineMs: inline.warmMs, inlineBusy, idleEngines: idle.length, engines: engineCount })) {
      const job = waiting.shift()!;
      inlineBusy = true;
      void job(inline).finally(() => {
        inlineBusy = false;
        next();
      });
      continue;
    }
    if (idle.length === 0) return;
    const job = waiting.shift()!;
    const engine = idle.pop()!;
    void job(engine).finally(() => {
      idle.push(engine);
      next();
    });
  }
}

async function handle(engine: Engine, msg: ToReplica, tensors: Tensor[]): Promise<void> {
  if (msg.t === 'ping') return send({ t: 'pong', id: msg.id });
  if (msg.t !== 'infer') return;
  try {
    const { outputs, computeMs } = await engine.run(tensors, msg.outputs);
    send({ t: 'result', id: msg.id, computeMs }, outputs);
  } catch (err) {
    send({ t: 'error', id: msg.id, message: err instanceof Error ? err.message : String(err) });
  }
}

function onBytes(n: number): void {
  let frames;
  try {
    frames = decoder.commit(target, n, scratch);
  } catch (err) {
    console.error(`replica: bad frame from daemon: ${(err as Error).message}`);
    process.exit(70);
  }
  for (const f of frames) {
    waiting.push((engine) => handle(engine, f.header as ToReplica, f.tensors));
    next();
  }
}
pipe.on('end', () => process.exit(0));
pipe.on('error', () => process.exit(0));

async function main(): Promise<void> {
  console.log(`replica ${config.deployment}#${config.replica} pid ${process.pid}: loading ${config.modelFile}`);
  const onEngineLost = (err: Error) => {
    // Without its engine the replica cannot answer: exit, and the daemon restarts it.
    console.error(`replica: ${err.message}`);
    process.exit(70);
  };
  // The replica's threads are shared among its engines (at least one each).
  const threads = config.threads === undefined ? undefined : Math.max(1, Math.floor(config.threads / engineCount));
  let loaded;
  try {
    const started = await Promise.all(Array.from({ length: engineCount }, () =>
      OrtEngine.start({ file: config.modelFile, threads, providers: config.providers, warmup: config.warmup !== false }, onEngineLost)));
    loaded = started[0]!.loaded;
    for (const s of started) idle.push(s.engine);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`replica: failed to load ${config.modelFile}: ${message}`);
    send({ t: 'fatal', message });
    pipe.end(() => process.exit(1));
    setTimeout(() => process.exit(1), 1000).unref();
    return;
  }
  // Warm-up (in the engine): one request built from the model's inputs, so the first user request
  // does not pay for the first run (allocations, kernel selection). A failure is logged, not fatal.
  const { loadMs, warmupMs, warmupError } = loaded;
  if (warmupError) console.error(`replica: warm-up run failed (${warmupError}); serving without it`);
  console.log(`replica ${config.deployment}#${config.replica}: ready in ${loadMs.toFixed(0)} ms${warmupMs === undefined ? '' : ` (warm-up run ${warmupMs.toFixed(0)} ms)`}`);
  // A model whose warm-up took a few ms at most may be fast enough to run on this thread (CPU only).
  if (!onGpu(config.providers) && warmupMs !== undefined && warmupMs < 5 * INLINE_MAX_MS) {
    const candidate = await InlineEngine.load(config.modelFile).catch(() => null);
    if (candidate && candidate.warmMs < INLINE_MAX_MS) {
      inline = candidate;
      console.log(`replica ${config.deployment}#${config.replica}: a warm run takes ${(candidate.warmMs * 1000).toFixed(0)} us; a request alone runs on the main thread`);
    } else await candidate?.release();
  }
  next();
  send({ t: 'ready', inputs: loaded.inputs, outputs: loaded.outputs, loadMs, pid: process.pid, ...(warmupMs === undefined ? {} : { warmupMs }) });
}

void main();
