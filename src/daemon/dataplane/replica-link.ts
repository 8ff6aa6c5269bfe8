// The daemon's end of the framed pipe to one replica: send a batch, match replies by id. The link
// is the one place that knows a replica's load (batches and requests in flight on it).
import type { Duplex } from 'node:stream';
import { encodeFrame, FrameDecoder } from '../../runtime/frame.js';
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

export class ReplicaLink {
  readonly load: LinkLoad = { batches: 0, requests: 0 };
  private readonly decoder = new FrameDecoder();
  private readonly pending = new Map<number, Pending>();
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

  infer(inputs: Tensor[], opts: InferOptions = {}): Promise<InferResult> {
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

  close(reason: string): void {
    if (this.closed) return;
    this.closed = reason;
    for (const p of this.pending.values()) p.reject(new ReplicaLinkClosed(reason));
    this.pending.clear();
    this.pipe.destroy();
  }

  private write(msg: ToReplica, tensors: Tensor[]): void {
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
