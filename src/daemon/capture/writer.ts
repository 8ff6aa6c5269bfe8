// The heavy half of payload capture, run on a worker thread (capture-worker.ts) so that turning
// requests into rows, encoding Parquet, writing files, retention and CloudEvents never take the
// ingress's event loop: a batch of records in, what became of them out (written, sent, dropped and
// why). It also keeps each deployment's last RECENT_ROWS rows for the canary's drift check.
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { CAPTURE_FILE_RE, captureFileName } from '../../monitor/capture-schema.js';
import { canaryDrift, type CanaryDrift, type CapturedColumns } from '../../monitor/canary-drift.js';
import { VERSION } from '../../version.js';
import { cloudEvents, type OutgoingEvent } from './cloudevents.js';
import { CaptureTable } from './parquet.js';
import { filesToRemove } from './retention.js';
import { captureColumns, type CaptureRecord, type Cell, type Cols } from './rows.js';
import type { CaptureSettings } from './settings.js';

/** Events waiting for the sink, and how many are sent at once. */
const SINK_QUEUE_MAX = 2_000;
const SINK_CONCURRENCY = 4;
const SINK_TIMEOUT_MS = 5_000;
/** How often retention runs per endpoint. */
const RETENTION_EVERY_MS = 60_000;
/** Recent rows kept per deployment (at least), for the canary's drift check. */
export const RECENT_ROWS = 5_000;

export type DropReason = 'queue-full' | 'write-error' | 'send-error' | 'sink-full';

/** What happened to an endpoint's records since the last report. */
export interface EndpointOutcome {
  written: number;
  sent: number;
  /** Sent to the sink for an endpoint that writes no files (they count as recorded). */
  sentOnly: number;
  dropped: Partial<Record<DropReason, number>>;
  /** The last error per drop reason (for events and status). */
  errors: Partial<Record<DropReason, string>>;
  skipped: string[] | null;
}

export interface Batch {
  records: CaptureRecord[];
  settings: Array<[string, CaptureSettings]>;
}

export class CaptureWriter {
  private readonly outcomes = new Map<string, EndpointOutcome>();
  private readonly recent = new Map<string, { rows: number; chunks: Array<{ ts: number; cols: Cols }> }>();
  private readonly sink: Array<{ url: string; ev: OutgoingEvent; endpoint: string; filesOff: boolean }> = [];
  private sending = 0;
  private seq = 0;
  private readonly retained = new Map<string, number>();

  constructor(private readonly dir: string, private readonly now: () => number = Date.now) {}

  private outcome(endpoint: string): EndpointOutcome {
    let o = this.outcomes.get(endpoint);
    if (!o) this.outcomes.set(endpoint, (o = { written: 0, sent: 0, sentOnly: 0, dropped: {}, errors: {}, skipped: null }));
    return o;
  }

  private drop(endpoint: string, reason: DropReason, n: number, error: string): void {
    const o = this.outcome(endpoint);
    o.dropped[reason] = (o.dropped[reason] ?? 0) + n;
    o.errors[reason] = error;
  }

  /** Everything that happened since the last call (then forgotten). */
  take(): Record<string, EndpointOutcome> {
    const out = Object.fromEntries(this.outcomes);
    this.outcomes.clear();
    return out;
  }

  async process(batch: Batch): Promise<Record<string, EndpointOutcome>> {
    const settings = new Map(batch.settings);
    const tables = new Map<string, CaptureTable>();
    for (const rec of batch.records) {
      const s = settings.get(rec.endpoint);
      if (!s) continue; // turned off since
      if (s.url) this.enqueueEvents(rec, s);
      const c = captureColumns(rec, s.dropInputs);
      this.remember(rec.deployment, rec.ts, c);
      if (!s.files) continue;
      let t = tables.get(rec.endpoint);
      if (!t) tables.set(rec.endpoint, (t = new CaptureTable()));
      t.add(rec, c);
    }
    for (const [endpoint, t] of tables) await this.write(endpoint, t);
    for (const [endpoint, s] of settings) {
      // Retention reads every file's size and time: once a minute per endpoint is enough (files come every 2 s).
      if (!s.files || this.now() - (this.retained.get(endpoint) ?? -Infinity) < RETENTION_EVERY_MS) continue;
      this.retained.set(endpoint, this.now());
      await this.retain(endpoint, s).catch(() => undefined);
    }
    return this.take();
  }

  private remember(deployment: string, ts: number, c: Cols): void {
    const kept = this.recent.get(deployment) ?? { rows: 0, chunks: [] };
    kept.chunks.push({ ts, cols: c });
    kept.rows += c.n;
    while (kept.rows - kept.chunks[0]!.cols.n >= RECENT_ROWS) kept.rows -= kept.chunks.shift()!.cols.n;
    this.recent.set(deployment, kept);
  }

  /** A deployment's recent captured columns since `sinceMs`. */
  private since(deployment: string, sinceMs: number): CapturedColumns {
    const chunks = (this.recent.get(deployment)?.chunks ?? []).filter((c) => c.ts >= sinceMs);
    const columns = new Map<string, Cell[]>();
    let n = 0;
    for (const { cols } of chunks) {
      for (const [name, values] of cols.columns) {
        let col = columns.get(name);
        if (!col) columns.set(name, (col = []));
        while (col.length < n) col.push(null);
        for (const v of values) col.push(v);
      }
      n += cols.n;
    }
    return { n, columns };
  }

  /** The canary's captured rows against the primary's since `sinceMs`. */
  drift(primary: string, canary: string, sinceMs: number): CanaryDrift {
    return canaryDrift(this.since(primary, sinceMs), this.since(canary, sinceMs));
  }

  private async write(endpoint: string, t: CaptureTable): Promise<void> {
    const dir = join(this.dir, endpoint);
    const name = captureFileName(new Date(this.now()), this.seq++);
    const records = t.records;
    const skipped = [...t.skipped];
    try {
      const bytes = t.bytes({ 'mlserve.version': VERSION, 'mlserve.endpoint': endpoint, 'mlserve.skipped': skipped.join('; ') });
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(join(dir, `.${name}.tmp`), bytes, { mode: 0o600 });
      await rename(join(dir, `.${name}.tmp`), join(dir, name));
      const o = this.outcome(endpoint);
      o.written += records;
      o.skipped = skipped;
    } catch (err) {
      await rm(join(dir, `.${name}.tmp`), { force: true }).catch(() => undefined);
      this.drop(endpoint, 'write-error', records, `cannot write ${join(dir, name)}: ${(err as Error).message}`);
    }
  }

  /** An endpoint's capture files: name, size, time. */
  async files(endpoint: string): Promise<Array<{ name: string; bytes: number; ts: number }>> {
    const dir = join(this.dir, endpoint);
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => CAPTURE_FILE_RE.test(n));
    const found = await Promise.all(names.map(async (name) => {
      try {
        const st = await stat(join(dir, name));
        return { name, bytes: st.size, ts: st.mtimeMs };
      } catch {
        return null; // removed meanwhile
      }
    }));
    return found.filter((f) => f !== null);
  }

  private async retain(endpoint: string, s: CaptureSettings): Promise<void> {
    const files = await this.files(endpoint);
    for (const name of filesToRemove(files, s, this.now())) await rm(join(this.dir, endpoint, name), { force: true });
  }

  private enqueueEvents(rec: CaptureRecord, s: CaptureSettings): void {
    for (const ev of cloudEvents(rec, `mlserve://${rec.endpoint}`, s.dropInputs)) {
      if (this.sink.length >= SINK_QUEUE_MAX) {
        this.drop(rec.endpoint, 'sink-full', 1, `the sink ${s.url} does not keep up (${SINK_QUEUE_MAX} events waiting)`);
        continue;
      }
      this.sink.push({ url: s.url!, ev, endpoint: rec.endpoint, filesOff: !s.files });
    }
    this.pump();
  }

  /** Resolves when every event queued so far was sent or failed. */
  async settled(): Promise<void> {
    while (this.sending > 0 || this.sink.length > 0) await new Promise((r) => setTimeout(r, 20));
  }

  private pump(): void {
    while (this.sending < SINK_CONCURRENCY && this.sink.length > 0) {
      const { url, ev, endpoint, filesOff } = this.sink.shift()!;
      this.sending++;
      request(url, { method: 'POST', headers: ev.headers, body: ev.body, headersTimeout: SINK_TIMEOUT_MS, bodyTimeout: SINK_TIMEOUT_MS })
        .then(async (r) => {
          await r.body.dump();
          if (r.statusCode >= 300) throw new Error(`the sink answered ${r.statusCode}`);
          if (!ev.headers['ce-type']!.endsWith('.request')) return;
          const o = this.outcome(endpoint);
          o.sent++;
          if (filesOff) o.sentOnly++;
        })
        .catch((err: Error) => this.drop(endpoint, 'send-error', 1, `CloudEvent to ${url}: ${err.message}`))
        .finally(() => {
          this.sending--;
          this.pump();
        });
    }
  }
}
