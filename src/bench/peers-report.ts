// PURE: the peers section of `npm run bench -- --peers`: its result, the issue's goals computed from
// one run, and its tables (each fits 80 columns) and BENCH.md section.
import type { RawRun, Row } from './suite-report.js';

export const SERVERS = ['naive', 'mlserve', 'mlserveBinary', 'mlserveShm', 'ray', 'mlserver', 'mlflow'] as const;
export type ServerId = (typeof SERVERS)[number];

export const SERVER_LABEL: Record<ServerId, string> = {
  naive: 'naive server (node:http + ORT)',
  mlserve: 'mlserve, defaults (OIP JSON)',
  mlserveBinary: 'mlserve, defaults (binary)',
  mlserveShm: 'mlserve, shared memory input',
  ray: 'Ray Serve, @serve.batch + ORT',
  mlserver: 'MLServer, MLflow runtime',
  mlflow: 'mlflow models serve',
};

/** The peers (not mlserve, not the naive baseline). */
export const PEERS: readonly ServerId[] = ['ray', 'mlserver', 'mlflow'];

export interface PeerRow extends Row {
  generator: string;
  /** Mean requests per model run, where the server reports it (mlserve). */
  meanBatch?: number;
}

export interface PeerModel {
  id: string;
  rowShape: number[];
  raw: RawRun[];
  /** At `connections` connections. */
  load: Partial<Record<ServerId, PeerRow>>;
  /** At one connection. */
  c1: Partial<Record<ServerId, PeerRow>>;
  /** Servers whose answer to the check request differed from raw onnxruntime's, with the largest difference. */
  mismatches: Record<string, number>;
  /** Servers that could not be measured, with why. */
  failed: Record<string, string>;
}

export interface Goal {
  name: string;
  value: number | null;
  target: string;
  met: boolean;
  /** Why there is no value, when there is none. */
  why?: string;
}

export interface PeersResult {
  date: string;
  quick: boolean;
  machine: Record<string, string | number>;
  generator: string;
  connections: number;
  durationS: number;
  /** onnxruntime intra-op threads of raw ORT, the naive server and Ray Serve: every core, as mlserve's default gives its one replica. */
  threads: number;
  versions: Record<string, string>;
  models: PeerModel[];
  /** Each load generator against a constant-reply server: its ceiling here. */
  generators: { builtin: PeerRow; wrk?: PeerRow };
  goals: Goal[];
  elapsedS: number;
}

const bestRaw = (m: PeerModel): RawRun | undefined => (m.raw.length ? m.raw.reduce((a, b) => (b.samplesPerSec > a.samplesPerSec ? b : a)) : undefined);
/** mlserve's best at load: JSON or binary. */
const mlserveBest = (m: PeerModel): number | undefined => {
  // JSON or binary over HTTP: what any client can send (the shared-memory row needs a client on this machine).
  const xs = [m.load.mlserve?.throughput, m.load.mlserveBinary?.throughput].filter((x): x is number => x !== undefined);
  return xs.length ? Math.max(...xs) : undefined;
};

function ratio(name: string, num: number | undefined, den: number | undefined, min: number, missing: string): Goal {
  if (num === undefined || den === undefined || den <= 0) return { name, value: null, target: `>= ${min}x`, met: false, why: missing };
  const value = num / den;
  return { name, value, target: `>= ${min}x`, met: value >= min };
}

/** The issue's goals, from one run. A goal whose rows are missing is reported as not met, with why. */
export function peerGoals(models: readonly PeerModel[], connections: number): Goal[] {
  const out: Goal[] = [];
  const mlp = models.find((m) => m.id === 'tiny_mlp');
  if (mlp) {
    // The JSON row: the naive server and the peers speak JSON.
    const ml = mlp.load.mlserve?.throughput;
    out.push(ratio(`tiny MLP, ${connections} conns: mlserve / naive`, ml, mlp.load.naive?.throughput, 1.5, mlp.failed.naive ?? 'no naive row'));
    out.push(ratio(`tiny MLP, ${connections} conns: mlserve / Ray Serve`, ml, mlp.load.ray?.throughput, 5, mlp.failed.ray ?? 'no Ray Serve row'));
    out.push(ratio(`tiny MLP, ${connections} conns: mlserve / MLServer`, ml, mlp.load.mlserver?.throughput, 3, mlp.failed.mlserver ?? 'no MLServer row'));
    const a = mlp.c1.mlserve?.p50Ms;
    const b = mlp.c1.naive?.p50Ms;
    if (a === undefined || b === undefined) out.push({ name: 'tiny MLP, 1 conn: p50 over naive (ms)', value: null, target: '<= 0.15 ms', met: false, why: 'no concurrency-1 rows' });
    else out.push({ name: 'tiny MLP, 1 conn: p50 over naive (ms)', value: a - b, target: '<= 0.15 ms', met: a - b <= 0.15 });
  }
  for (const m of models.filter((x) => x.id !== 'tiny_mlp')) {
    out.push(ratio(`${m.id}: mlserve / raw ORT at best batch`, mlserveBest(m), bestRaw(m)?.samplesPerSec, 0.95, 'no raw or mlserve row'));
    for (const p of PEERS) out.push(ratio(`${m.id}: mlserve / ${SERVER_LABEL[p].split(',')[0]}`, mlserveBest(m), m.load[p]?.throughput, 1, m.failed[p] ?? `no ${p} row`));
  }
  return out;
}

const num = (v: number | undefined, digits: number, width: number) => (v === undefined ? '-' : v.toFixed(digits)).padStart(width);
const rate = (v: number | undefined) => (v === undefined ? '-' : v >= 1000 ? v.toFixed(0) : v >= 100 ? v.toFixed(1) : v.toFixed(2));

/** One model's table: req/s, p50/p99 at load, p50 at 1 connection, and mlserve's best / this row. */
export function formatPeerModel(m: PeerModel, connections: number): string {
  const lines = [`${m.id} [${m.rowShape.join('x')}], ${connections} connections; c1 = 1 connection`, `${''.padEnd(31)}${'req/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'c1 p50'.padStart(9)}${'ml/x'.padStart(7)}`];
  const best = bestRaw(m);
  if (best) lines.push(`${`raw ORT in-process, batch ${best.batch}`.padEnd(31)}${rate(best.samplesPerSec).padStart(9)}${num(best.p50Ms, 2, 9)}${num(best.p99Ms, 2, 9)}${''.padStart(9)}${num(mlserveBest(m) !== undefined ? mlserveBest(m)! / best.samplesPerSec : undefined, 2, 7)}`);
  const mlBest = mlserveBest(m);
  for (const s of SERVERS) {
    const r = m.load[s];
    const c = m.c1[s];
    if (!r && !c) {
      if (m.failed[s]) lines.push(`${SERVER_LABEL[s].padEnd(31)}  failed: ${m.failed[s]!.slice(0, 36)}`);
      continue;
    }
    const vs = s === 'mlserve' || s === 'mlserveBinary' || s === 'mlserveShm' || !r || mlBest === undefined || r.throughput <= 0 ? undefined : mlBest / r.throughput;
    lines.push(`${SERVER_LABEL[s].padEnd(31)}${rate(r?.throughput).padStart(9)}${num(r?.p50Ms, 2, 9)}${num(r?.p99Ms, 2, 9)}${num(c?.p50Ms, 2, 9)}${num(vs, 2, 7)}`);
  }
  return lines.join('\n');
}

export function formatGoals(goals: readonly Goal[]): string {
  const lines = ['goals (ml/x: mlserve best of JSON and binary / that row)'];
  for (const g of goals) {
    const v = g.value === null ? '-' : g.value.toFixed(2);
    lines.push(`  ${g.name.slice(0, 52).padEnd(52)} ${v.padStart(7)} ${g.target.padEnd(9)} ${g.met ? 'met' : 'MISSED'}`);
  }
  return lines.join('\n');
}

/** The generators' ceilings: what each reaches against a server that answers at once. */
export function formatGenerators(r: PeersResult): string {
  const lines = [`load generators vs a constant-reply server, ${r.connections} connections`];
  const row = (name: string, x: PeerRow) => `  ${name.padEnd(40)}${rate(x.throughput).padStart(9)} req/s  p50 ${num(x.p50Ms, 2, 6)} ms`;
  lines.push(row('built-in (mlserve bench, undici Pool)', r.generators.builtin));
  if (r.generators.wrk) lines.push(row('wrk (1 thread)', r.generators.wrk));
  return lines.join('\n');
}

export function formatPeers(r: PeersResult): string {
  return [...r.models.map((m) => formatPeerModel(m, r.connections)), formatGenerators(r), formatGoals(r.goals)].join('\n\n');
}

/** The BENCH.md section (between the peers markers). */
export function peersMarkdown(r: PeersResult, resultsFile: string): string {
  const versions = Object.entries(r.versions).map(([k, v]) => `${k} ${v}`).join(', ');
  const notes: string[] = [];
  for (const m of r.models) {
    for (const [s, why] of Object.entries(m.failed)) notes.push(`- ${m.id}, ${s}: not measured: ${why}`);
    for (const [s, d] of Object.entries(m.mismatches)) notes.push(`- ${m.id}, ${s}: answer differs from raw onnxruntime by up to ${d.toExponential(2)}`);
  }
  return [
    '## Peers, side by side (issue 17)',
    '',
    `\`npm run bench -- --peers\` on this machine, ${r.date} (${r.machine.cpus} x ${r.machine.cpu}): the same ONNX files (PyTorch/torchvision exports with seeded weights, logged with MLflow's client) served by each server in turn, nothing else running; load from ${r.generator}, ${r.connections} connections (${r.durationS}s per row for the tiny MLP, 20s for the vision models, after a warm-up and a drain of what the warm-up left queued) and then 1 connection (5s). Every server left at its defaults except where its docs say to set it: onnxruntime threads = ${r.threads} (all cores) for raw ORT, the naive server and Ray Serve (mlserve's default gives its one replica the same cores, as two one-thread onnxruntime sessions that run two batches at once); Ray Serve (@serve.batch) and MLServer (adaptive batching) batch up to 32 requests with a 5 ms wait (their documented knobs; mlserve's default also batches up to 32, with no wait: it runs what queued while the replica was busy). Versions: ${versions}. Raw JSON: \`${resultsFile}\`.`,
    '',
    '```',
    formatPeers(r),
    '```',
    ...(notes.length ? ['', ...notes] : []),
  ].join('\n');
}
