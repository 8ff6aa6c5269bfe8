// The daemon's end of the framed pipe to one replica: send a batch, match replies by id. The link
// is the one place that knows a replica's load (batches and requests in flight on it).
import type { Duplex } from 'node:stream';
import { encodeFrame, FrameDecoder, type FrameTensor } from '../../runtime/frame.js';
import type { FromReplica, ToReplica } from '../../runtime/protocol.js';
import type { LinkLoad } from './dispatch-rules.js';
import type { Tensor } from '../../tensor.js';

export interface InferResult {
  outputs: Tensor[];
  computeMs: number;
}

interface Pending {
  resolve: (r: InferResult) => void;
  reject: (e: Error) => void;
}

export class ReplicaLinkClosed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplicaLinkClosed';
  }
}

/** One batch as sent: the requested outputs, how many requests it carries, extra header fields of its kind. */
export interface InferOptions {
  outputs?: string[];
  requests?: number;
  header?: Record<string, unknown>;
}

/** A stream's frames (LLM generations: tokens, then done or error) until it says it is finished. */
export interface StreamHandler {
  /** One frame of this stream; true when it was the last. */
  onFrame(msg: FromReplica, tensors: Tensor[]): boolean;
  /** The link closed before the stream finished (the replica died or is stopping). */
  onClosed(reason: string): void;
}

export class ReplicaLink {
  readonly load: LinkLoad = { batches: 0, requests: 0 };
  private readonly decoder = new FrameDecoder();
  private readonly pending = new Map<number, Pending>();
  private readonly streams = new Map<number, StreamHandler>();
  private nextId = 1;
  private closed: string | null = null;
  /** When the replica last sent anything (performance.now()): a frozen replica goes silent. */
  lastHeardAt = performance.now();

  constructor(
    private readonly pipe: Duplex,
    /** Messages that are not replies (ready, fatal). */
    private readonly onControl: (msg: FromReplica) => void,
  ) {
    pipe.on('data', (chunk: Buffer) => this.onData(chunk));
    pipe.on('close', () => this.close('replica pipe closed'));
    pipe.on('error', (err) => this.close(`replica pipe error: ${err.message}`));
  }

  /** Closed links take no work (the replica died or is stopping). */
  get isClosed(): boolean {
    return this.closed !== null;
  }

  get inflight(): number {
    return this.pending.size;
  }

  infer(inputs: FrameTensor[], opts: InferOptions = {}): Promise<InferResult> {
    const requests = opts.requests ?? 1;
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new ReplicaLinkClosed(this.closed));
      const id = this.nextId++;
      this.load.batches++;
      this.load.requests += requests;
      const settle = () => {
        this.load.batches--;
        this.load.requests -= requests;
      };
      this.pending.set(id, {
        resolve: (r) => {
          settle();
          resolve(r);
        },
        reject: (e) => {
          settle();
          reject(e);
        },
      });
      const msg = { ...opts.header, t: 'infer', id, ...(opts.outputs && opts.outputs.length ? { outputs: opts.outputs } : {}) } as ToReplica;
      this.write(msg, inputs);
    });
  }

  ping(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new ReplicaLinkClosed(this.closed));
      const id = this.nextId++;
      this.pending.set(id, { resolve: () => resolve(), reject });
      this.write({ t: 'ping', id }, []);
    });
  }

  /**
   * Start a stream (an LLM generation): `msg` goes out with a new id, and every frame the replica
   * sends with that id goes to `handler` until it reports the last one. It counts as one request
   * in flight meanwhile. Returns the id (for cancel), or throws ReplicaLinkClosed.
   */
  stream(msg: { t: 'generate' | 'embed' } & Record<string, unknown>, handler: StreamHandler): number {
    if (this.closed) throw new ReplicaLinkClosed(this.closed);
    const id = this.nextId++;
    this.load.requests++;
    this.streams.set(id, handler);
    this.write({ ...msg, id } as ToReplica, []);
    return id;
  }

  /** Ask the replica to stop a stream early; it still ends with its last frame. */
  cancel(id: number): void {
    if (!this.closed && this.streams.has(id)) this.write({ t: 'cancel', id }, []);
  }

  private endStream(id: number): void {
    if (this.streams.delete(id)) this.load.requests--;
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = reason;
    for (const p of this.pending.values()) p.reject(new ReplicaLinkClosed(reason));
    this.pending.clear();
    const streams = [...this.streams.entries()];
    for (const [id] of streams) this.endStream(id);
    for (const [, h] of streams) h.onClosed(reason);
    this.pipe.destroy();
  }

  private write(msg: ToReplica, tensors: FrameTensor[]): void {
    const parts = encodeFrame(msg, tensors);
    this.pipe.cork();
    for (const p of parts) this.pipe.write(p);
    process.nextTick(() => this.pipe.uncork());
  }

  private onData(chunk: Buffer): void {
    this.lastHeardAt = performance.now();
    let frames;
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.close(`bad frame from replica: ${(err as Error).message}`);
      return;
    }
    for (const { header, tensors } of frames) {
      const msg = header as FromReplica;
      const stream = 'id' in msg && msg.t !== 'pong' ? this.streams.get(msg.id) : undefined;
      if (stream) {
        if (stream.onFrame(msg, tensors)) this.endStream((msg as { id: number }).id);
        continue;
      }
      if (msg.t === 'result' || msg.t === 'error' || msg.t === 'pong') {
        const p = this.pending.get(msg.id);
        if (!p) continue;
        this.pending.delete(msg.id);
        if (msg.t === 'error') p.reject(new Error(msg.message));
        else p.resolve({ outputs: tensors, computeMs: msg.t === 'result' ? msg.computeMs : 0 });
      } else {
        this.onControl(msg);
      }
    }
  }
}
