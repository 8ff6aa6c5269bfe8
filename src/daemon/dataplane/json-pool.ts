// Big JSON bodies are parsed off the event loop: a small pool of worker threads runs the same
// decode as the ingress (codecs/json-body.ts) and hands back tensors whose typed arrays are
// transferred, so that a 60 MB body costs the event loop a thread hop instead of seconds of parsing.
// Workers start on first use and stop after a while without work.
import { availableParallelism } from 'node:os';
import { MlserveError } from '../../errors.js';
import type { Signature } from '../../tensor.js';
import type { DecodedJson, JsonRoute } from './codecs/json-body.js';
import type { ClientGone } from './dispatcher.js';
import type { JsonJob } from './json-worker.js';
import { ThreadPool } from './thread-pool.js';

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

export class JsonPool {
  private readonly pool: ThreadPool<DecodedJson>;
  private readonly maxBytes: number;
  private reserved = 0;

  constructor(opts: JsonPoolOptions = {}) {
    this.maxBytes = opts.maxBytes ?? 256 * 2 ** 20;
    this.pool = new ThreadPool<DecodedJson>({
      size: opts.size ?? Math.max(1, Math.min(4, availableParallelism() - 1)),
      maxQueued: opts.maxQueued ?? 64,
      idleMs: opts.idleMs ?? 30_000,
      workerUrl: opts.workerUrl ?? new URL('./json-worker.js', import.meta.url),
      overloaded: (queued) => new MlserveError('OVERLOADED', `${queued} big JSON bodies wait to be parsed; retry later, or send tensors with the binary extension`, { headers: { 'Retry-After': '1' } }),
      workerFailed: (err) => {
        if (!err) return new MlserveError('INTERNAL', 'the JSON parser thread exited');
        return err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new MlserveError('PAYLOAD_TOO_LARGE', 'the JSON body needs more memory to parse than the parser thread has; send the tensors with the binary extension or in smaller requests')
          : new MlserveError('INTERNAL', `the JSON parser thread failed: ${err.message}`, { cause: err });
      },
      clientGone: 'the client left before its body was parsed',
    });
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
    // Only a buffer that is the whole of its ArrayBuffer can be transferred; a pooled slice is copied.
    const own = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength ? body : Buffer.from(body);
    const job: Omit<JsonJob, 'id'> = { route, body: new Uint8Array(own.buffer, 0, own.byteLength), spec };
    return this.pool.run(job, [own.buffer as ArrayBuffer], gone);
  }

  /** Stop every worker; jobs not done are refused. */
  close(): Promise<void> {
    return this.pool.close();
  }
}
