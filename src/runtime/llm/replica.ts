// A llama.cpp replica process (the `llamacpp` kind): loads one GGUF with node-llama-cpp, then runs
// the generations the daemon sends over fd 3 (protocol.ts), several at once on its slots. It
// exits when that pipe closes, so a daemon killed with SIGKILL leaves no replica behind.
import net from 'node:net';
import { encodeFrame, FrameDecoder } from '../frame.js';
import type { FromReplica, ToReplica } from '../protocol.js';
import type { Tensor } from '../../tensor.js';
import { LlamaEngine, type Cancel } from './llama-engine.js';
import { LlmRequestError, type LlmReplicaConfig } from './protocol.js';

const config = JSON.parse(process.argv[2] ?? '{}') as LlmReplicaConfig;
const pipe = new net.Socket({ fd: 3, readable: true, writable: true });
const decoder = new FrameDecoder();
let engine: LlamaEngine | undefined;
const running = new Map<number, Cancel>();

function send(header: FromReplica, tensors: Tensor[] = []): void {
  const parts = encodeFrame(header, tensors);
  pipe.cork();
  for (const p of parts) pipe.write(p);
  process.nextTick(() => pipe.uncork());
}

function fail(id: number, err: unknown): void {
  if (err instanceof LlmRequestError) send({ t: 'error', id, message: err.message, code: err.code, status: err.status, ...(err.param ? { param: err.param } : {}) });
  else send({ t: 'error', id, message: err instanceof Error ? err.message : String(err) });
}

async function generate(msg: Extract<ToReplica, { t: 'generate' }>): Promise<void> {
  const cancel: Cancel = { cancelled: false };
  running.set(msg.id, cancel);
  try {
    const r = await engine!.generate(msg.request, cancel, (text, tokens) => send({ t: 'token', id: msg.id, text, tokens }));
    send({ t: 'done', id: msg.id, finishReason: r.finishReason, usage: r.usage, kv: engine!.kv() });
  } catch (err) {
    fail(msg.id, err);
  } finally {
    running.delete(msg.id);
  }
}

async function embed(msg: Extract<ToReplica, { t: 'embed' }>): Promise<void> {
  try {
    const r = await engine!.embed(msg.input);
    send({ t: 'embeddings', id: msg.id, usage: r.usage }, [{ name: 'embeddings', datatype: 'FP32', shape: [msg.input.length, r.dims], data: r.vectors }]);
  } catch (err) {
    fail(msg.id, err);
  }
}

function handle(msg: ToReplica): void {
  if (msg.t === 'ping') return send({ t: 'pong', id: msg.id });
  if (msg.t === 'cancel') {
    const c = running.get(msg.id);
    if (c) c.cancelled = true;
    return;
  }
  if (!engine) return;
  if (msg.t === 'generate') void generate(msg);
  else if (msg.t === 'embed') void embed(msg);
  else if (msg.t === 'infer') send({ t: 'error', id: msg.id, message: `${config.deployment} serves a language model: use POST /v1/chat/completions or /v1/completions` });
}

pipe.on('data', (chunk: Buffer) => {
  let frames;
  try {
    frames = decoder.push(chunk);
  } catch (err) {
    console.error(`replica: bad frame from daemon: ${(err as Error).message}`);
    process.exit(70);
  }
  for (const f of frames) handle(f.header as ToReplica);
});
pipe.on('end', () => process.exit(0));
pipe.on('error', () => process.exit(0));

async function main(): Promise<void> {
  const started = performance.now();
  console.log(`llama.cpp replica ${config.deployment}#${config.replica} pid ${process.pid}: loading ${config.modelFile} (ctx ${config.ctxSize} x ${config.slots} slots)`);
  try {
    engine = await LlamaEngine.load(config);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`replica: failed to load ${config.modelFile}: ${message}`);
    send({ t: 'fatal', message });
    pipe.end(() => process.exit(1));
    setTimeout(() => process.exit(1), 1000).unref();
    return;
  }
  const loadMs = performance.now() - started;
  const about = engine.about();
  console.log(`llama.cpp replica ${config.deployment}#${config.replica}: ready in ${loadMs.toFixed(0)} ms (${about.architecture}, context ${about.contextSize}, chat template ${about.chatTemplate})`);
  send({ t: 'ready', inputs: [], outputs: [], loadMs, pid: process.pid, llm: about } as FromReplica);
}

void main();
