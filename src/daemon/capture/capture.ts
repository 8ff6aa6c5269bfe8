// Payload capture, off the request path: the ingress offers each answered request; a sampled share
// goes into a bounded queue (full: the record is dropped and counted, the request never waits). A
// timer drains the queue into rows, writes each endpoint's rows as a Parquet file every few seconds
// (tmp + rename, so a reader never sees half a file), applies retention, and sends CloudEvents to the
// endpoint's sink with a few requests in flight. A write or send that fails drops those records,
// counts them, and says so in an event (at most once a minute per endpoint and cause); serving goes on.
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import client from 'prom-client';
import { request } from 'undici';
import type { Tensor } from '../../tensor.js';
import { CAPTURE_FILE_RE, captureFileName } from '../../monitor/capture-schema.js';
import { VERSION } from '../../version.js';
import { cloudEvents, type OutgoingEvent } from './cloudevents.js';
import { parquetBytes } from './parquet.js';
import { filesToRemove } from './retention.js';
import { captureRows, type CaptureRecord, type Row } from './rows.js';
import type { CaptureSettings } from './settings.js';

/** Records waiting to be written: at most this many, holding at most QUEUE_MAX_BYTES of tensors. */
export const QUEUE_MAX_RECORDS = 10_000;
export const QUEUE_MAX_BYTES = 64 * 1024 ** 2;
/** Events waiting for the sink, and how many are sent at once. */
const SINK_QUEUE_MAX = 2_000;
const SINK_CONCURRENCY = 4;
const SINK_TIMEOUT_MS = 5_000;
/** Recent rows kept in memory per deployment, for the canary's drift check. */
export const RECENT_ROWS = 5_000;

export type DropReason = 'queue-full' | 'write-error' | 'send-error' | 'sink-full';

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

export interface CaptureDeps {
  dir: string;
  registry: client.Registry;
  event: (kind: string, subject: string, message: string, data?: unknown) => void;
  /** The saved settings per endpoint (re-read on each flush, so an undeployed endpoint stops). */
  load: () => Array<{ endpoint: string; settings: CaptureSettings }>;
  flushMs?: number;
  rand?: () => number;
  now?: () => number;
}

type Served = { endpoint: string; name: string; version: string };

const sizeOf = (x: Tensor[] | { mlflowJson: string }) =>
  Array.isArray(x) ? x.reduce((s, t) => s + (Array.isArray(t.data) ? t.data.reduce((a, v) => a + v.length, 0) : t.data.byteLength), 0) : x.mlflowJson.length;

export class Capture {
  private settings = new Map<string, CaptureSettings>();
  private readonly queue: CaptureRecord[] = [];
  private queuedBytes = 0;
  private readonly stats = new Map<string, Omit<CaptureStatus, 'endpoint' | 'settings' | 'files' | 'bytes'>>();
  private readonly sink: Array<{ url: string; ev: OutgoingEvent; endpoint: string }> = [];
  private sending = 0;
  private readonly lastEvent = new Map<string, number>();
  private readonly recentRows = new Map<string, Row[]>();
  private readonly timer: NodeJS.Timeout;
  private seq = 0;
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

  private stat(endpoint: string) {
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

  /** Write what is queued (one file per endpoint) and apply retention. Runs one at a time. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.drain()).catch((err) => console.error(`capture: ${(err as Error).stack}`));
    return this.flushing;
  }

  private async drain(): Promise<void> {
    this.reload();
    const batch = this.queue.splice(0);
    this.queuedBytes = 0;
    const rows = new Map<string, { rows: Row[]; skipped: Set<string>; records: number }>();
    for (const rec of batch) {
      const s = this.settings.get(rec.endpoint);
      if (!s) continue; // turned off since
      if (s.url) this.enqueueEvents(rec, s);
      const r = captureRows(rec, s.dropInputs);
      this.remember(rec.deployment, r.rows);
      if (!s.files) continue;
      const acc = rows.get(rec.endpoint) ?? { rows: [], skipped: new Set<string>(), records: 0 };
      acc.rows.push(...r.rows);
      acc.records++;
      for (const x of r.skipped) acc.skipped.add(x);
      rows.set(rec.endpoint, acc);
    }
    for (const [endpoint, acc] of rows) await this.write(endpoint, acc.rows, acc.records, [...acc.skipped]);
    for (const [endpoint, s] of this.settings) if (s.files) await this.retain(endpoint, s).catch(() => undefined);
  }

  private remember(deployment: string, rows: Row[]): void {
    const kept = this.recentRows.get(deployment) ?? [];
    kept.push(...rows);
    if (kept.length > RECENT_ROWS) kept.splice(0, kept.length - RECENT_ROWS);
    this.recentRows.set(deployment, kept);
  }

  /** The deployment's captured rows since `sinceMs` (the last RECENT_ROWS at most), for the canary's drift check. */
  recent(deployment: string, sinceMs: number): Row[] {
    return (this.recentRows.get(deployment) ?? []).filter((r) => (r.timestamp as number) >= sinceMs);
  }

  private async write(endpoint: string, rows: Row[], records: number, skipped: string[]): Promise<void> {
    const dir = join(this.deps.dir, endpoint);
    const name = captureFileName(new Date(this.now()), this.seq++);
    try {
      const bytes = parquetBytes(rows, { 'mlserve.version': VERSION, 'mlserve.endpoint': endpoint, 'mlserve.skipped': skipped.join('; ') });
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(join(dir, `.${name}.tmp`), bytes, { mode: 0o600 });
      await rename(join(dir, `.${name}.tmp`), join(dir, name));
      const s = this.stat(endpoint);
      s.written += records;
      s.skipped = skipped;
      this.records.inc({ endpoint }, records);
    } catch (err) {
      await rm(join(dir, `.${name}.tmp`), { force: true }).catch(() => undefined);
      this.drop(endpoint, 'write-error', records, `cannot write ${join(dir, name)}: ${(err as Error).message}`);
    }
  }

  private async files(endpoint: string) {
    const dir = join(this.deps.dir, endpoint);
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => CAPTURE_FILE_RE.test(n));
    return Promise.all(names.map(async (name) => {
      const st = await stat(join(dir, name));
      return { name, bytes: st.size, ts: st.mtimeMs };
    }));
  }

  private async retain(endpoint: string, s: CaptureSettings): Promise<void> {
    const files = await this.files(endpoint);
    for (const name of filesToRemove(files, s, this.now())) await rm(join(this.deps.dir, endpoint, name), { force: true });
  }

  private enqueueEvents(rec: CaptureRecord, s: CaptureSettings): void {
    for (const ev of cloudEvents(rec, `mlserve://${rec.endpoint}`, s.dropInputs)) {
      if (this.sink.length >= SINK_QUEUE_MAX) {
        this.drop(rec.endpoint, 'sink-full', 1, `the sink ${s.url} does not keep up (${SINK_QUEUE_MAX} events waiting)`);
        continue;
      }
      this.sink.push({ url: s.url!, ev, endpoint: rec.endpoint });
    }
    this.pump();
  }

  private pump(): void {
    while (this.sending < SINK_CONCURRENCY && this.sink.length > 0) {
      const { url, ev, endpoint } = this.sink.shift()!;
      this.sending++;
      request(url, { method: 'POST', headers: ev.headers, body: ev.body, headersTimeout: SINK_TIMEOUT_MS, bodyTimeout: SINK_TIMEOUT_MS })
        .then(async (r) => {
          await r.body.dump();
          if (r.statusCode >= 300) throw new Error(`the sink answered ${r.statusCode}`);
          if (!ev.headers['ce-type']!.endsWith('.request')) return;
          this.stat(endpoint).sent++;
          if (this.settings.get(endpoint)?.files === false) this.records.inc({ endpoint });
        })
        .catch((err: Error) => this.drop(endpoint, 'send-error', 1, `CloudEvent to ${url}: ${err.message}`))
        .finally(() => {
          this.sending--;
          this.pump();
        });
    }
  }

  async status(): Promise<CaptureStatus[]> {
    this.reload();
    return Promise.all([...this.settings].map(async ([endpoint, settings]) => {
      const files = await this.files(endpoint);
      return { endpoint, settings, ...this.stat(endpoint), files: files.length, bytes: files.reduce((a, f) => a + f.bytes, 0) };
    }));
  }

  /** Write what is left (daemon stop). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
