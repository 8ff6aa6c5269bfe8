// Drift reports on a schedule (`mlserve drift <endpoint> --reference ... --every 10m`): every period
// the daemon compares the endpoint's captured rows of the window with the reference (the same
// driftReport the CLI prints) and exports the figures as gauges,
// mlserve_feature_drift{endpoint,feature,metric} and mlserve_dataset_drift{endpoint}, for Prometheus
// alerts and Grafana. A dataset drift that starts or ends, and a run that fails, are events. The
// schedules are desired state in SQLite; the reference is read again when its file changes.
import { stat } from 'node:fs/promises';
import client from 'prom-client';
import { readCapturedRows } from '../../monitor/drift/capture-files.js';
import { readReference } from '../../monitor/drift/reference.js';
import { driftReport, type DriftReport } from '../../monitor/drift/report.js';
import type { Table } from '../../monitor/drift/table.js';
import { parseWindow } from '../../monitor/drift/window.js';
import { badRequest } from '../../errors.js';

export interface DriftSchedule {
  endpoint: string;
  /** Absolute path of the reference file (CSV or Parquet). */
  reference: string;
  windowMs: number;
  everyMs: number;
  target?: string;
}

/** The last run of a schedule. */
export interface DriftRun {
  endpoint: string;
  at: number;
  ok: boolean;
  error?: string;
  rows?: { reference: number; current: number };
  drifted?: number;
  columns?: number;
  datasetDrift?: boolean;
  features?: Array<{ feature: string; drifted: boolean | null; psi: number | null }>;
}

/** The control API's body -> a schedule, checked (PURE). Shortest period one minute: a report reads every file of the window. */
export function parseSchedule(endpoint: string, b: Record<string, unknown>): DriftSchedule {
  if (typeof b.reference !== 'string' || !b.reference.startsWith('/')) throw badRequest('a drift schedule needs --reference, the path of a CSV or Parquet file');
  const windowMs = parseWindow(String(b.window ?? '1h'));
  if (windowMs === null) throw badRequest(`--window ${String(b.window)} is not a duration: pass a number and a unit s, m, h, d or w`);
  const everyMs = parseWindow(String(b.every ?? ''));
  if (everyMs === null) throw badRequest(`--every ${String(b.every)} is not a duration: pass e.g. 10m, 1h`);
  if (everyMs < 60_000) throw badRequest(`--every ${String(b.every)} is under a minute: each run reads the window's capture files; use 1m or more`);
  return { endpoint, reference: b.reference, windowMs, everyMs, ...(typeof b.target === 'string' && b.target ? { target: b.target } : {}) };
}

/** The gauge values of a report: [feature, metric, value] (PURE). */
export function driftGauges(r: DriftReport): Array<[string, string, number]> {
  const out: Array<[string, string, number]> = [];
  for (const f of r.features) {
    const put = (metric: string, v: number | null | undefined) => {
      if (v !== null && v !== undefined && Number.isFinite(v)) out.push([f.feature, metric, v]);
    };
    put('psi', f.psi);
    put('ks_statistic', f.ks?.statistic);
    put('ks_pvalue', f.ks?.pValue);
    put('wasserstein_normed', f.wassersteinNormed);
    put('chi2_pvalue', f.chiSquare?.pValue);
    put('drift_score', f.decision?.score);
    put('drifted', f.decision ? Number(f.decision.drifted) : null);
    put('missing_rate', f.missing.current);
    put('out_of_range_rate', f.outOfRange);
  }
  return out;
}

export class DriftScheduler {
  private readonly lastRun = new Map<string, DriftRun>();
  private readonly references = new Map<string, { mtimeMs: number; table: Table }>();
  /** The gauge series each endpoint has (so a schedule's series can be removed without touching the others'). */
  private readonly series = new Map<string, Array<[string, string]>>();
  private readonly feature: client.Gauge<'endpoint' | 'feature' | 'metric'>;
  private readonly dataset: client.Gauge<'endpoint'>;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(private readonly deps: {
    home: string;
    registry: client.Registry;
    load: () => DriftSchedule[];
    event: (kind: string, subject: string, message: string, data?: unknown) => void;
    now?: () => number;
  }) {
    const registers = [deps.registry];
    this.feature = new client.Gauge({ name: 'mlserve_feature_drift', help: 'Drift of a captured feature or prediction against the reference (mlserve drift --every): psi, ks_statistic, ks_pvalue, wasserstein_normed, chi2_pvalue, drift_score, drifted (0/1), missing_rate, out_of_range_rate', labelNames: ['endpoint', 'feature', 'metric'], registers });
    this.dataset = new client.Gauge({ name: 'mlserve_dataset_drift', help: 'Share of an endpoint\'s compared columns that drifted in the last scheduled drift report', labelNames: ['endpoint'], registers });
  }

  start(periodMs = 5000): void {
    this.timer = setInterval(() => void this.tick(), periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  runs(): DriftRun[] {
    return this.deps.load().map((s) => this.lastRun.get(s.endpoint) ?? { endpoint: s.endpoint, at: 0, ok: false, error: 'not run yet' });
  }

  /** Forget a schedule's gauges (it was removed). */
  forget(endpoint: string): void {
    this.lastRun.delete(endpoint);
    this.setSeries(endpoint, []);
    this.dataset.remove({ endpoint });
  }

  /** Set an endpoint's feature gauges to these values, removing the series it had that are not among them. */
  private setSeries(endpoint: string, values: Array<[string, string, number]>): void {
    const keep = new Set(values.map(([f, m]) => `${f}\0${m}`));
    for (const [feature, metric] of this.series.get(endpoint) ?? []) {
      if (!keep.has(`${feature}\0${metric}`)) this.feature.remove({ endpoint, feature, metric });
    }
    for (const [feature, metric, value] of values) this.feature.set({ endpoint, feature, metric }, value);
    this.series.set(endpoint, values.map(([f, m]) => [f, m]));
  }

  /** Run every schedule whose period has passed. */
  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const now = (this.deps.now ?? Date.now)();
      for (const s of this.deps.load()) {
        const last = this.lastRun.get(s.endpoint);
        if (!last || now - last.at >= s.everyMs) await this.run(s);
      }
    } finally {
      this.busy = false;
    }
  }

  /** Read (or re-read, when the file changed) a reference; throws what is wrong with it. */
  async reference(path: string): Promise<Table> {
    const { mtimeMs } = await stat(path);
    const cached = this.references.get(path);
    if (cached && cached.mtimeMs === mtimeMs) return cached.table;
    const table = await readReference(path);
    this.references.set(path, { mtimeMs, table });
    return table;
  }

  /** One report now: gauges set, the run kept, events on a change. */
  async run(s: DriftSchedule): Promise<DriftRun> {
    const now = (this.deps.now ?? Date.now)();
    const before = this.lastRun.get(s.endpoint);
    let run: DriftRun;
    try {
      const reference = await this.reference(s.reference);
      const captured = await readCapturedRows({ home: this.deps.home, endpoint: s.endpoint, from: now - s.windowMs, to: now });
      if (captured.table.rows === 0) throw new Error(`no captured rows of ${s.endpoint} in the window; is capture on (mlserve capture status)?`);
      const r = driftReport(reference, captured.table, { endpoint: s.endpoint, target: s.target });
      this.setSeries(s.endpoint, driftGauges(r));
      this.dataset.set({ endpoint: s.endpoint }, r.columns ? r.drifted / r.columns : 0);
      run = {
        endpoint: s.endpoint, at: now, ok: true, rows: r.rows, drifted: r.drifted, columns: r.columns, datasetDrift: r.datasetDrift,
        features: r.features.map((f) => ({ feature: f.feature, drifted: f.decision?.drifted ?? null, psi: f.psi })),
      };
      if (r.datasetDrift !== (before?.datasetDrift ?? false)) {
        const names = run.features!.filter((f) => f.drifted).map((f) => f.feature);
        this.deps.event(r.datasetDrift ? 'drift-detected' : 'drift-cleared', s.endpoint, r.datasetDrift
          ? `${r.drifted} of ${r.columns} columns drifted from ${s.reference} (${names.join(', ')}) over ${r.rows.current} captured rows`
          : `no dataset drift any more: ${r.drifted} of ${r.columns} columns drifted`, { drifted: names });
      }
    } catch (err) {
      run = { endpoint: s.endpoint, at: now, ok: false, error: (err as Error).message };
      if (before?.error !== run.error) this.deps.event('drift-failed', s.endpoint, `scheduled drift report failed: ${run.error}`);
    }
    this.lastRun.set(s.endpoint, run);
    return run;
  }
}
