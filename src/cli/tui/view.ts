// PURE: what `mlserve top` shows, from two snapshots a second apart: rates, latency percentiles
// (from histogram bucket deltas, like PromQL's histogram_quantile), batch sizes, sparklines.
// Renders to lines that fit the terminal width (80 columns and up).
import type { DeploymentSnapshot, Snapshot } from '../../daemon/snapshot.js';
import { llmLines } from './llm-view.js';

export interface Row {
  endpoint: string;
  name: string;
  version: string;
  state: string;
  canary: number;
  ready: number;
  total: number;
  restarts: number;
  rps: number;
  p50Ms: number | null;
  p99Ms: number | null;
  errorPct: number;
  meanBatch: number | null;
  queued: number;
  spark: string;
}

/** The q-quantile of the requests that fell into the buckets between two cumulative histograms. */
export function quantileFromBuckets(le: number[], prev: number[], cur: number[], q: number): number | null {
  const delta = cur.map((c, i) => c - (prev[i] ?? 0));
  const total = delta[delta.length - 1] ?? 0;
  if (!(total > 0)) return null;
  const rank = q * total;
  for (let i = 0; i < le.length; i++) {
    if (delta[i] >= rank) {
      const lower = i === 0 ? 0 : le[i - 1];
      const upper = Number.isFinite(le[i]) ? le[i] : lower;
      const below = i === 0 ? 0 : delta[i - 1];
      const inBucket = delta[i] - below;
      return inBucket > 0 ? lower + ((upper - lower) * (rank - below)) / inBucket : upper;
    }
  }
  return null;
}

const BARS = '▁▂▃▄▅▆▇█';
export function sparkline(values: number[], width = 12): string {
  const v = values.slice(-width);
  const max = Math.max(...v, 0);
  return v.map((x) => (max > 0 ? BARS[Math.min(7, Math.floor((x / max) * 7.999))] : BARS[0])).join('');
}

export function rows(prev: Snapshot | null, cur: Snapshot, history: Map<string, number[]>): Row[] {
  const dt = prev ? (cur.t - prev.t) / 1000 : 0;
  return cur.deployments.map((d) => {
    const p: DeploymentSnapshot | undefined = prev?.deployments.find((x) => x.name === d.name);
    const dReq = p ? d.requests - p.requests : 0;
    const dErr = p ? d.errors - p.errors : 0;
    const dBatches = p ? d.batches - p.batches : 0;
    const dServed = p ? d.batchedRequests - p.batchedRequests : 0;
    const prevCounts = p && p.latency.le.length === d.latency.le.length ? p.latency.counts : d.latency.counts.map(() => 0);
    const rps = dt > 0 ? dReq / dt : 0;
    const hist = history.get(d.name) ?? [];
    return {
      endpoint: d.endpoint,
      name: d.name,
      version: d.version,
      state: d.state,
      canary: d.canaryWeight,
      ready: d.replicas.filter((r) => r.state === 'ready').length,
      total: d.replicas.filter((r) => r.state !== 'stopped').length,
      restarts: d.replicas.reduce((a, r) => a + r.restarts, 0),
      rps,
      p50Ms: p ? scale(quantileFromBuckets(d.latency.le, prevCounts, d.latency.counts, 0.5)) : null,
      p99Ms: p ? scale(quantileFromBuckets(d.latency.le, prevCounts, d.latency.counts, 0.99)) : null,
      errorPct: dReq > 0 ? (100 * dErr) / dReq : 0,
      meanBatch: dBatches > 0 ? dServed / dBatches : null,
      queued: d.queued,
      spark: sparkline([...hist, rps], 6),
    };
  });
}

const scale = (s: number | null) => (s === null ? null : s * 1000);
const num = (n: number | null, w: number, digits = 1) => (n === null ? '-' : n >= 1000 ? n.toFixed(0) : n.toFixed(digits)).padStart(w);
const cut = (s: string, w: number) => (s.length > w ? `${s.slice(0, w - 1)}…` : s.padEnd(w));
const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19);

export interface ViewOptions {
  width: number;
  height: number;
  selected: number;
  showEvents: boolean;
}

/** The whole frame as lines, none wider than opts.width. */
export function frame(prev: Snapshot | null, cur: Snapshot, history: Map<string, number[]>, opts: ViewOptions): string[] {
  const w = Math.max(80, opts.width);
  const out: string[] = [];
  const up = Math.round((cur.t - cur.daemon.startedAt) / 1000);
  out.push(cut(`mlserve ${cur.daemon.version}  pid ${cur.daemon.pid}  up ${up}s  ${cur.daemon.url}  ${clock(cur.t)}`, w));
  const rs = rows(prev, cur, history);
  if (rs.length === 0) {
    out.push('', 'nothing deployed: try mlserve deploy <model> (or mlserve quickstart)');
  } else {
    const nameW = Math.max(18, w - 62);
    out.push(cut(`${'DEPLOYMENT'.padEnd(nameW)} VER  CAN  REPL  REQ/S  P50ms  P99ms  ERR%  BATCH  QUE  TREND`, w));
    rs.forEach((r, i) => {
      const mark = i === opts.selected ? '>' : ' ';
      out.push(cut(
        `${mark}${cut(`${r.name} (${r.endpoint})`, nameW - 1)} ${cut(r.version, 4)} ${String(r.canary).padStart(3)}% ${`${r.ready}/${r.total}`.padStart(4)} ${num(r.rps, 6)} ${num(r.p50Ms, 6, 2)} ${num(r.p99Ms, 6, 2)} ${num(r.errorPct, 5)} ${num(r.meanBatch, 6)} ${String(r.queued).padStart(4)}  ${r.spark}`,
        w,
      ));
    });
    out.push(...llmLines(prev, cur, w));
    const sel = cur.deployments[Math.min(opts.selected, cur.deployments.length - 1)];
    if (sel) {
      out.push('', cut(`${sel.name}: ${sel.state}${sel.message ? ` (${sel.message})` : ''}`, w));
      out.push('  REPLICA  PID      STATE       RESTARTS  IN-FLIGHT  GPU');
      for (const r of sel.replicas) {
        out.push(cut(`  ${String(r.idx).padEnd(8)} ${String(r.pid ?? '-').padEnd(8)} ${r.state.padEnd(11)} ${String(r.restarts).padStart(8)}  ${String(r.inflight).padStart(9)}  ${r.gpu}`, w));
      }
    }
  }
  if (cur.gpus.length) {
    out.push('');
    for (const g of cur.gpus) {
      out.push(cut(`GPU ${g.index} ${g.name}${g.simulated ? ' (simulated)' : ''}: ${(g.allocated * 100).toFixed(0)}% allocated, ${Math.round(g.memoryUsedMiB / 1024)}/${Math.round(g.memoryTotalMiB / 1024)} GiB used`, w));
    }
  }
  const evCount = opts.showEvents ? Math.max(3, opts.height - out.length - 3) : 4;
  out.push('', 'EVENTS');
  for (const e of cur.events.slice(-evCount)) out.push(cut(`${clock(e.ts)} ${e.kind.padEnd(15)} ${e.subject.padEnd(16)} ${e.message}`, w));
  out.push('', 'q quit  ↑/↓ select deployment  e more events');
  return out;
}
