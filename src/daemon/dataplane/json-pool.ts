// Big JSON bodies are parsed off the event loop: a small pool of worker threads runs the same
// decode as the ingress (codecs/json-body.ts) and hands back tensors whose typed arrays are
// transferred, so that a 60 MB body costs the event loop a thread hop instead of seconds of parsing.
// Workers start on first use and stop after a while without work.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { MlserveError, type ErrorCode } from '../../errors.js';
import type { Signature } from '../../tensor.js';
import type { DecodedJson, JsonRoute } from './codecs/json-body.js';
import type { ClientGone } from './dispatcher.js';
import type { JsonJob } from './json-worker.js';

export interface JsonPoolOptions {
  /** Worker threads at most (default: one less than the cores, 1 to 4). */
  size?: number;
  /** Bodies waiting for a worker at most; past it, 503. */
  maxQueued?: number;
  /** Bytes of big JSON bodies being read, waiting or parsed at once (reserve()); past it, 503 before reading. */
  maxBytes?: number;
  /** A worker without work for this long exits. */
  idleMs?: number;
  /** The worker's code (tests that run from src/ point at the built dist/). */
  workerUrl?: URL;
}

interface Job extends JsonJob {
  resolve: (d: DecodedJson) => void;
  reject: (e: Error) => void;
  gone?: ClientGone;
}

interface Slot {
  worker: Worker;
  job: Job | null;
  idle: NodeJS.Timeout | null;
}

type Reply = { id: number; decoded?: DecodedJson; error?: { code: ErrorCode; message: string } };

export class JsonPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  private readonly size: number;
  private readonly maxQueued: number;
  private readonly maxBytes: number;
  private reserved = 0;
  private readonly idleMs: number;
  private readonly workerUrl: URL;

  constructor(opts: JsonPoolOptions = {}) {
    this.size = opts.size ?? Math.max(1, Math.min(4, availableParallelism() - 1));
    this.maxQueued = opts.maxQueued ?? 64;
    this.maxBytes = opts.maxBytes ?? 256 * 2 ** 20;
    this.idleMs = opts.idleMs ?? 30_000;
    this.workerUrl = opts.workerUrl ?? new URL('./json-worker.js', import.meta.url);
  }

  /**
   * Room for a big body of `bytes` from before it is read until it is decoded (a flood of big JSON
   * bodies would otherwise hold bodies and parse heaps of ~10x their size at once): the release
   * function, or null when the budget is spent (one body is always let in).
   */
  reserve(bytes: number): (() => void) | null {
    if (this.reserved > 0 && this.reserved + bytes > this.maxBytes) return null;
    this.reserved += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.reserved -= bytes;
    };
  }

  /** Parse and decode `body` on a worker; `body`'s memory moves to the worker (do not use it after). */
  decode(route: JsonRoute, body: Buffer, spec: Signature, gone?: ClientGone): Promise<DecodedJson> {
    if (this.closed) return Promise.reject(new MlserveError('NOT_READY', 'the daemon is shutting down'));
    if (this.queue.length >= this.maxQueued) {
      return Promise.reject(new MlserveError('OVERLOADED', `${this.queue.length} big JSON bodies wait to be parsed; retry later, or send tensors with the binary extension`, { headers: { 'Retry-After': '1' } }));
    }
    // Only a buffer that is the whole of its ArrayBuffer can be transferred; a pooled slice is copied.
    const own = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength ? body : Buffer.from(body);
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, route, body: new Uint8Array(own.buffer, 0, own.byteLength), spec, resolve, reject, gone });
      this.pump();
    });
  }

  /** Stop every worker; jobs not done are refused. */
  async close(): Promise<void> {
    this.closed = true;
    for (const j of this.queue.splice(0)) j.reject(new MlserveError('NOT_READY', 'the daemon is shutting down'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.job === null);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const job = this.queue.shift()!;
      if (job.gone?.aborted) {
        job.reject(new MlserveError('CLIENT_CLOSED', 'the client left before its body was parsed'));
        continue;
      }
      if (slot.idle) clearTimeout(slot.idle);
      slot.idle = null;
      slot.job = job;
      const { resolve: _r, reject: _j, gone: _g, ...msg } = job;
      slot.worker.postMessage(msg, [msg.body.buffer as ArrayBuffer]);
    }
  }

  private spawn(): Slot {
    const worker = new Worker(this.workerUrl);
    worker.unref();
    const slot: Slot = { worker, job: null, idle: null };
    this.slots.push(slot);
    worker.on('message', (m: Reply) => {
      const job = slot.job;
      if (!job || job.id !== m.id) return;
      slot.job = null;
      if (m.error) job.reject(new MlserveError(m.error.code, m.error.message));
      else job.resolve(m.decoded!);
      slot.idle = setTimeout(() => this.retire(slot), this.idleMs);
      slot.idle.unref();
      this.pump();
    });
    worker.on('error', (err: Error & { code?: string }) => {
      const oom = err.code === 'ERR_WORKER_OUT_OF_MEMORY';
      slot.job?.reject(oom
        ? new MlserveError('PAYLOAD_TOO_LARGE', 'the JSON body needs more memory to parse than the parser thread has; send the tensors with the binary extension or in smaller requests')
        : new MlserveError('INTERNAL', `the JSON parser thread failed: ${err.message}`, { cause: err }));
      slot.job = null;
    });
    worker.on('exit', () => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      if (slot.idle) clearTimeout(slot.idle);
      slot.job?.reject(new MlserveError('INTERNAL', 'the JSON parser thread exited'));
      slot.job = null;
      if (!this.closed) this.pump();
    });
    return slot;
  }

  private retire(slot: Slot): void {
    if (slot.job) return;
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    void slot.worker.terminate();
  }
}
