// Payload capture, off the request path: the ingress offers each answered request; a sampled share
// goes into a bounded queue (full: the record is dropped and counted, the request never waits). Every
// few seconds the queue is handed to the writer on a worker thread (writer.ts: rows, Parquet files,
// retention, CloudEvents), so that work never takes the ingress's event loop; what it reports back
// (written, sent, dropped and why) becomes counters, `capture status` and events (at most one a
// minute per endpoint and cause). Serving goes on whatever happens to capture.
import { randomUUID } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import client from 'prom-client';
import type { Tensor } from '../../tensor.js';
import type { CanaryDrift } from '../../monitor/canary-drift.js';
import type { CaptureRecord } from './rows.js';
import type { CaptureSettings } from './settings.js';
import { CaptureWriter, type Batch, type DropReason, type EndpointOutcome } from './writer.js';

export { RECENT_ROWS, type DropReason } from './writer.js';

/** Records waiting to be written: at most this many, holding at most QUEUE_MAX_BYTES of tensors. */
export const QUEUE_MAX_RECORDS = 10_000;
export const QUEUE_MAX_BYTES = 64 * 1024 ** 2;

export interface CaptureStatus {
  endpoint: string;
  settings: CaptureSettings;
  sampled: number;
  written: number;
  sent: number;
  dropped: Partial<Record<DropReason, number>>;
  files: number;
  bytes: number;
  lastError: string | null;
  skipped: string[];
}

/** The writer's interface, whether it runs on a worker thread or (tests) in this one. */
export interface WriterPort {
  process(b: Batch): Promise<Record<string, EndpointOutcome>>;
  files(endpoint: string): Promise<Array<{ name: string; bytes: number; ts: number }>>;
  drift(primary: string, canary: string, sinceMs: number): Promise<CanaryDrift>;
  settled(): Promise<void>;
  close(): Promise<void>;
}

/** The writer in this thread (tests, and tools that capture nothing on a hot path). */
export function inThread(dir: string): WriterPort {
  const w = new CaptureWriter(dir);
  return {
    process: (b) => w.process(b), files: (e) => w.files(e), drift: async (p, c, s) => w.drift(p, c, s),
    settled: () => w.settled(), close: async () => undefined,
  };
}

/** The writer on a worker thread; a worker that dies fails its pending calls and is started again on the next. */
export function onWorker(dir: string, url = new URL('./capture-worker.js', import.meta.url)): WriterPort {
  let worker: Worker | null = null;
  let next = 0;
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  const fail = (err: Error) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    worker = null;
  };
  const call = <T>(op: string, ...args: unknown[]): Promise<T> => {
    if (!worker) {
      const w = new Worker(url, { workerData: { dir } });
      w.unref();
      w.on('message', (m: { id: number; result?: unknown; error?: string }) => {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (m.error !== undefined) p?.reject(new Error(m.error));
        else p?.resolve(m.result);
      });
      w.on('error', (err) => fail(err));
      w.on('exit', (code) => fail(new Error(`the capture worker exited (code ${code})`)));
      worker = w;
    }
    const id = next++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker!.postMessage({ id, op, args });
    });
  };
  return {
    process: (b) => call('process', b), files: (e) => call('files', e), drift: (p, c, s) => call('drift', p, c, s),
    settled: () => call('settled'),
    close: async () => {
      await worker?.terminate();
    },
  };
}

export interface CaptureDeps {
  writer: WriterPort;
  registry: client.Registry;
  event: (kind: string, subject: string, message: string, data?: unknown) => void;
  /** The saved settings per endpoint (re-read on each flush, so an undeployed endpoint stops). */
  load: () => Array<{ endpoint: string; settings: CaptureSettings }>;
  flushMs?: number;
  rand?: () => number;
  now?: () => number;
}

type Served = { endpoint: string; name: string; version: string };
type Stats = Omit<CaptureStatus, 'endpoint' | 'settings' | 'files' | 'bytes'>;

const sizeOf = (x: Tensor[] | { mlflowJson: string }) =>
  Array.isArray(x) ? x.reduce((s, t) => s + (Array.isArray(t.data) ? t.data.reduce((a, v) => a + v.length, 0) : t.data.byteLength), 0) : x.mlflowJson.length;

/**
 * Tensors whose data owns its memory: posting a view into a bigger buffer (a request body, a replica's
 * frame) would copy that whole buffer to the worker, so only such views are copied first.
 */
const compact = (x: Tensor[] | { mlflowJson: string }) => (Array.isArray(x)
  ? x.map((t) => (Array.isArray(t.data) || t.data.byteLength === t.data.buffer.byteLength ? t : { ...t, data: t.data.slice() }))
  : x);

export class Capture {
  private settings = new Map<string, CaptureSettings>();
  private queue: CaptureRecord[] = [];
  private queuedBytes = 0;
  private readonly stats = new Map<string, Stats>();
  private readonly lastEvent = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  private readonly rand: () => number;
  private readonly now: () => number;
  private readonly records: client.Counter<'endpoint'>;
  private readonly drops: client.Counter<'endpoint' | 'reason'>;

  constructor(private readonly deps: CaptureDeps) {
    this.rand = deps.rand ?? Math.random;
    this.now = deps.now ?? Date.now;
    const registers = [deps.registry];
    this.records = new client.Counter({ name: 'mlserve_capture_records_total', help: 'Requests recorded by payload capture (written to a file or sent to the sink)', labelNames: ['endpoint'], registers });
    this.drops = new client.Counter({ name: 'mlserve_capture_dropped_total', help: 'Sampled requests that payload capture dropped, by reason (queue-full, write-error, send-error, sink-full)', labelNames: ['endpoint', 'reason'], registers });
    this.reload();
    this.timer = setInterval(() => void this.flush(), deps.flushMs ?? 2000);
    this.timer.unref();
  }

  /** Read the saved settings again (after capture on/off, and on every flush). */
  reload(): void {
    this.settings = new Map(this.deps.load().map((c) => [c.endpoint, c.settings]));
  }

  private stat(endpoint: string): Stats {
    let s = this.stats.get(endpoint);
    if (!s) this.stats.set(endpoint, (s = { sampled: 0, written: 0, sent: 0, dropped: {}, lastError: null, skipped: [] }));
    return s;
  }

  private drop(endpoint: string, reason: DropReason, n: number, error?: string): void {
    const s = this.stat(endpoint);
    s.dropped[reason] = (s.dropped[reason] ?? 0) + n;
    this.drops.inc({ endpoint, reason }, n);
    if (error === undefined) return;
    s.lastError = error;
    const key = `${endpoint}\0${reason}`;
    if (this.now() - (this.lastEvent.get(key) ?? -Infinity) < 60_000) return;
    this.lastEvent.set(key, this.now());
    this.deps.event('capture-failed', endpoint, `payload capture dropped ${n} record(s) (${reason}): ${error}; serving goes on`, { reason });
  }

  /** After an answer: maybe record it. Cheap when the endpoint captures nothing or the draw says no. */
  offer(served: Served, inputs: Tensor[] | { mlflowJson: string }, outputs: Tensor[] | { mlflowJson: string }, startedAt: number, requestId?: string): void {
    const s = this.settings.get(served.endpoint);
    if (!s || this.rand() >= s.sample) return;
    this.stat(served.endpoint).sampled++;
    const bytes = sizeOf(inputs) + sizeOf(outputs);
    if (this.queue.length >= QUEUE_MAX_RECORDS || this.queuedBytes + bytes > QUEUE_MAX_BYTES) {
      this.drop(served.endpoint, 'queue-full', 1);
      return;
    }
    const latencyMs = performance.now() - startedAt;
    this.queue.push({
      endpoint: served.endpoint, deployment: served.name, version: served.version, requestId: requestId || randomUUID(),
      ts: this.now() - latencyMs, latencyMs, inputs, outputs,
    });
    this.queuedBytes += bytes;
  }

  /** Hand what is queued to the writer and take in what it reports. Runs one at a time. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.drain()).catch((err) => console.error(`capture: ${(err as Error).stack}`));
    return this.flushing;
  }

  private async drain(): Promise<void> {
    this.reload();
    const batch = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    if (this.settings.size === 0 && batch.length === 0) return;
    const records = batch.map((r) => ({ ...r, inputs: compact(r.inputs), outputs: compact(r.outputs) }));
    let outcomes: Record<string, EndpointOutcome>;
    try {
      outcomes = await this.deps.writer.process({ records, settings: [...this.settings] });
    } catch (err) {
      const by = new Map<string, number>();
      for (const r of batch) by.set(r.endpoint, (by.get(r.endpoint) ?? 0) + 1);
      for (const [endpoint, n] of by) this.drop(endpoint, 'write-error', n, `the capture writer failed: ${(err as Error).message}`);
      return;
    }
    for (const [endpoint, o] of Object.entries(outcomes)) {
      const s = this.stat(endpoint);
      s.written += o.written;
      s.sent += o.sent;
      if (o.skipped) s.skipped = o.skipped;
      if (o.written + o.sentOnly > 0) this.records.inc({ endpoint }, o.written + o.sentOnly);
      for (const [reason, n] of Object.entries(o.dropped) as Array<[DropReason, number]>) this.drop(endpoint, reason, n, o.errors[reason]);
    }
  }

  /** The canary's captured rows against the primary's since `sinceMs` (the writer keeps the recent rows). */
  drift(primary: string, canary: string, sinceMs: number): Promise<CanaryDrift> {
    return this.deps.writer.drift(primary, canary, sinceMs);
  }

  async status(): Promise<CaptureStatus[]> {
    await this.flush(); // counters of what the writer did meanwhile
    return Promise.all([...this.settings].map(async ([endpoint, settings]) => {
      const files = await this.deps.writer.files(endpoint).catch(() => []);
      return { endpoint, settings, ...this.stat(endpoint), files: files.length, bytes: files.reduce((a, f) => a + f.bytes, 0) };
    }));
  }

  /** Write what is left, let the sink finish, stop the worker (daemon stop). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    await this.deps.writer.settled().catch(() => undefined);
    await this.flush();
    await this.deps.writer.close();
  }
}
