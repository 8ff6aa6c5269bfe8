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
  /** A line above the frame: the daemon stopped, restarted, reconnecting. */
  notice?: string;
}

/** Columns of a deployment row besides its name and its trend (see row()). */
const FIXED = 56;

/** The name and trend columns' widths: the name takes up to 40, the trend the rest (wider terminals, longer trend). */
export function columnWidths(width: number): { name: number; trend: number } {
  const w = Math.max(80, width);
  const name = Math.min(40, 18 + Math.floor((w - 80) / 2));
  return { name, trend: w - FIXED - name };
}

/** How many samples of req/s history a terminal this wide shows (top keeps at least this many). */
export const trendSamples = (width: number): number => columnWidths(width).trend;

/**
 * The whole frame as lines: none wider than opts.width, and fewer than opts.height (Ink redraws in
 * place only while its output is shorter than the terminal; at the height or beyond it clears the
 * screen on every refresh). What does not fit is cut in this order: events (down to one), GPUs
 * (into one summary line), the selected deployment's replicas (down to one), LLM rows (down to
 * one), events altogether, and the deployment list scrolls (keeping the selected one in view).
 */
export function frame(prev: Snapshot | null, cur: Snapshot, history: Map<string, number[]>, opts: ViewOptions): string[] {
  const w = Math.max(80, opts.width);
  const budget = Math.max(6, opts.height - 1);
  const { name: nameW, trend: trendW } = columnWidths(w);
  const up = Math.round((cur.t - cur.daemon.startedAt) / 1000);
  const head: string[] = [];
  if (opts.notice) head.push(cut(opts.notice, w));
  head.push(cut(`mlserve ${cur.daemon.version}  pid ${cur.daemon.pid}  up ${up}s  ${cur.daemon.url}  ${clock(cur.t)}`, w));
  const help = cut(`q quit  ↑/↓ select deployment  e ${opts.showEvents ? 'fewer' : 'more'} events`, w);

  const rs = rows(prev, cur, history).map((r) => ({ ...r, spark: sparkline([...(history.get(r.name) ?? []), r.rps], trendW) }));
  const selIdx = Math.min(Math.max(0, opts.selected), Math.max(0, rs.length - 1));
  const sel = cur.deployments[selIdx];
  const replicas = sel ? sel.replicas.map((r) => cut(`  ${String(r.idx).padEnd(8)} ${String(r.pid ?? '-').padEnd(8)} ${r.state.padEnd(11)} ${String(r.restarts).padStart(8)}  ${String(r.inflight).padStart(9)}  ${r.gpu}`, w)) : [];
  const gpus = cur.gpus.map((g) => cut(`GPU ${g.index} ${g.name}${g.simulated ? ' (simulated)' : ''}: ${(g.allocated * 100).toFixed(0)}% allocated, ${Math.round(g.memoryUsedMiB / 1024)}/${Math.round(g.memoryTotalMiB / 1024)} GiB used`, w));
  const gpuSummary = cut(`GPUs: ${cur.gpus.map((g) => `${g.index} ${(g.allocated * 100).toFixed(0)}%`).join(', ')} allocated`, w);
  // LLM deployments: a table of their own (tokens/s, TTFT, waiting, KV cache), below the list.
  const [, llmHead, ...llmRows] = llmLines(prev, cur, w);
  const events = cur.events.map((e) => cut(`${clock(e.ts)} ${e.kind.padEnd(15)} ${e.subject.padEnd(16)} ${e.message}`, w));

  // What is shown of each section; shrunk below until the frame fits.
  let nDep = rs.length;
  let nRep = replicas.length;
  let detail = sel !== undefined; // the selected deployment's state line and replica table
  let gpuLines = gpus.length;
  let nLlm = llmRows.length;
  let nEv = Math.min(events.length, opts.showEvents ? events.length : 4);
  let gap = 1; // blank lines between sections
  const sections = () => {
    const depLines = rs.length === 0 ? 1 + gap : 1 + gap + nDep;
    const det = !sel ? 0 : detail ? gap + 2 + nRep + (nRep < replicas.length ? 1 : 0) : 1;
    const gpu = gpuLines ? gap + gpuLines : 0;
    const llm = nLlm > 0 ? gap + 1 + nLlm : 0;
    const ev = nEv > 0 ? gap + 1 + nEv : 0;
    return head.length + depLines + det + llm + gpu + ev + gap + 1;
  };
  const steps: Array<() => boolean> = [
    () => (nEv > 1 ? (nEv--, true) : false),
    () => (gpuLines > 1 ? ((gpuLines = 1), true) : false),
    () => (nRep > 1 ? (nRep--, true) : false),
    () => (nLlm > 1 ? (nLlm--, true) : false),
    () => (nEv > 0 ? (nEv--, true) : false),
    () => (nDep > 3 ? (nDep--, true) : false),
    () => (detail ? ((detail = false), (nRep = 0), true) : false),
    () => (gpuLines > 0 ? ((gpuLines = 0), true) : false),
    () => (nLlm > 0 ? ((nLlm = 0), true) : false),
    () => (gap > 0 ? ((gap = 0), true) : false),
    () => (nDep > 1 ? (nDep--, true) : false),
  ];
  for (const step of steps) while (sections() > budget && step());
  const blank = gap ? [''] : [];
  // The events key fills what is left with more events.
  if (opts.showEvents) {
    while (nEv < events.length) {
      nEv++;
      if (sections() > budget) {
        nEv--;
        break;
      }
    }
  }

  const out = [...head];
  if (rs.length === 0) {
    out.push(...blank, 'nothing deployed: try mlserve deploy <model> (or mlserve quickstart)');
  } else {
    // A window of the list that keeps the selected deployment in view; the line above says which part shows.
    const first = Math.min(Math.max(0, selIdx - Math.floor(nDep / 2)), rs.length - nDep);
    if (nDep < rs.length && gap) out.push(cut(`deployments ${first + 1}-${first + nDep} of ${rs.length} (↑/↓ scrolls)`, w));
    else out.push(...blank);
    out.push(cut(`${'DEPLOYMENT'.padEnd(nameW)} VER  CAN  REPL  REQ/S  P50ms  P99ms  ERR%  BATCH  QUE  ${'TREND'.padEnd(trendW)}`, w));
    rs.slice(first, first + nDep).forEach((r, i) => {
      const mark = first + i === selIdx ? '>' : ' ';
      out.push(cut(
        `${mark}${cut(`${r.name} (${r.endpoint})`, nameW - 1)} ${cut(r.version, 4)} ${String(r.canary).padStart(3)}% ${`${r.ready}/${r.total}`.padStart(4)} ${num(r.rps, 6)} ${num(r.p50Ms, 6, 2)} ${num(r.p99Ms, 6, 2)} ${num(r.errorPct, 5)} ${num(r.meanBatch, 6)} ${String(r.queued).padStart(4)}  ${r.spark}`,
        w,
      ));
    });
    if (nLlm > 0) out.push(...blank, llmHead!, ...llmRows.slice(0, nLlm));
    if (sel && detail) {
      out.push(...blank, cut(`${sel.name}: ${sel.state}${sel.message ? ` (${sel.message})` : ''}`, w));
      out.push('  REPLICA  PID      STATE       RESTARTS  IN-FLIGHT  GPU');
      out.push(...replicas.slice(0, nRep));
      if (nRep < replicas.length) out.push(`  … ${replicas.length - nRep} more replica(s)`);
    } else if (sel) {
      out.push(cut(`${sel.name}: ${sel.state}, ${sel.replicas.length} replica(s)${sel.message ? ` (${sel.message})` : ''}`, w));
    }
  }
  if (gpuLines) out.push(...blank, ...(gpuLines === gpus.length ? gpus : [gpuSummary]));
  if (nEv > 0) out.push(...blank, 'EVENTS', ...events.slice(-nEv));
  out.push(...blank, help);
  return out;
}
