// A replica process: loads one model, then runs the batches the daemon sends over fd 3.
// It exits when that pipe closes, so a daemon killed with SIGKILL leaves no replica behind.
import net from 'node:net';
import { encodeFrame, FrameDecoder } from './frame.js';
import type { FromReplica, ReplicaConfig, ToReplica } from './protocol.js';
import { loadModel, runModel, type LoadedModel } from './session.js';
import type { Tensor } from '../tensor.js';
import { stampStream } from './log-stamp.js';
import { exampleTensors } from './example.js';

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

let model: LoadedModel | undefined;
// At most `concurrency` batches run at once; the daemon sends one more ahead, which waits here so
// that its bytes cross the pipe while the current batch computes.
const concurrency = Math.max(1, config.concurrency ?? 1);
const waiting: Array<() => Promise<void>> = [];
let running = 0;
function next(): void {
  while (running < concurrency && waiting.length > 0) {
    const job = waiting.shift()!;
    running++;
    void job().finally(() => {
      running--;
      next();
    });
  }
}

async function handle(msg: ToReplica, tensors: Tensor[]): Promise<void> {
  if (msg.t === 'ping') return send({ t: 'pong', id: msg.id });
  if (msg.t !== 'infer' || !model) return;
  const started = performance.now();
  try {
    const outputs = await runModel(model, tensors, msg.outputs);
    send({ t: 'result', id: msg.id, computeMs: performance.now() - started }, outputs);
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
    waiting.push(() => handle(f.header as ToReplica, f.tensors));
    next();
  }
}
pipe.on('end', () => process.exit(0));
pipe.on('error', () => process.exit(0));

async function main(): Promise<void> {
  const started = performance.now();
  console.log(`replica ${config.deployment}#${config.replica} pid ${process.pid}: loading ${config.modelFile}`);
  try {
    model = await loadModel(config.modelFile, { threads: config.threads, providers: config.providers });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`replica: failed to load ${config.modelFile}: ${message}`);
    send({ t: 'fatal', message });
    pipe.end(() => process.exit(1));
    setTimeout(() => process.exit(1), 1000).unref();
    return;
  }
  const loadMs = performance.now() - started;
  // Warm-up: one request built from the model's inputs, so the first user request does not pay for
  // the first run (allocations, kernel selection). A failure is logged, not fatal: requests decide.
  let warmupMs: number | undefined;
  if (config.warmup !== false) {
    const t0 = performance.now();
    try {
      await runModel(model, exampleTensors(model.inputs));
      warmupMs = performance.now() - t0;
    } catch (err) {
      console.error(`replica: warm-up run failed (${err instanceof Error ? err.message : String(err)}); serving without it`);
    }
  }
  console.log(`replica ${config.deployment}#${config.replica}: ready in ${loadMs.toFixed(0)} ms${warmupMs === undefined ? '' : ` (warm-up run ${warmupMs.toFixed(0)} ms)`}`);
  send({ t: 'ready', inputs: model.inputs, outputs: model.outputs, loadMs, pid: process.pid, ...(warmupMs === undefined ? {} : { warmupMs }) });
}

void main();
