// What `mlserve top` sees once a second: a snapshot of every deployment's counters, replicas,
// latency histogram buckets, GPUs and the last events. Rates come from two snapshots, in the CLI.
import type { DispatchStats } from './dataplane/dispatcher.js';
import type { DeploymentRow, EndpointRow, EventRow } from './control/state.js';

export interface DeploymentSnapshot {
  name: string;
  endpoint: string;
  version: string;
  state: string;
  message: string | null;
  canaryWeight: number;
  replicas: { idx: number; pid: number | null; state: string; restarts: number; inflight: number; gpu: string }[];
  requests: number;
  errors: number;
  batches: number;
  batchedRequests: number;
  queued: number;
  inflight: number;
  /** Cumulative request-latency histogram: upper bounds (s) and counts. */
  latency: { le: number[]; counts: number[] };
  /** Language models: tokens in and out so far, the time-to-first-token histogram, KV-cache use. */
  llm?: { promptTokens: number; completionTokens: number; ttft: { le: number[]; counts: number[] }; kv: { used: number; size: number } | null };
}

export interface Snapshot {
  t: number;
  daemon: { pid: number; version: string; startedAt: number; url: string };
  deployments: DeploymentSnapshot[];
  gpus: { index: number; name: string; allocated: number; memoryUsedMiB: number; memoryTotalMiB: number; simulated: boolean }[];
  events: { ts: number; kind: string; subject: string; message: string }[];
}

/** What a snapshot reads (wired to the store, the fleet, the metrics and the GPU book by the daemon). */
export interface SnapshotSource {
  deployments(): DeploymentRow[];
  endpoints(): EndpointRow[];
  events(limit: number): EventRow[];
  latency(): Promise<Map<string, Map<number, number>>>;
  /** Time-to-first-token buckets per LLM deployment. */
  ttft?(): Promise<Map<string, Map<number, number>>>;
  /** The running revisions of a deployment (serving first): their queue counters and replicas. */
  revisions(deployment: string): Array<{ stats: DispatchStats; replicas: Array<{ idx: number; pid: number | null; state: string; restarts: number; inflight: number; gpu: unknown }> }>;
  gpus(): Snapshot['gpus'];
}

const gpuText = (gpu: unknown) => (gpu as { gpus?: { index: number; fraction: number }[] } | undefined)?.gpus?.map((g) => `${g.index}:${g.fraction}`).join(',') ?? '-';

export async function takeSnapshot(src: SnapshotSource, daemon: Snapshot['daemon']): Promise<Snapshot> {
  const lat = await src.latency();
  const ttft = (await src.ttft?.()) ?? new Map<string, Map<number, number>>();
  const endpoints = src.endpoints();
  const deployments = src.deployments().map((d): DeploymentSnapshot => {
    const revs = src.revisions(d.name);
    const total = (k: keyof DispatchStats) => revs.reduce((a, r) => a + r.stats[k], 0);
    const buckets = [...(lat.get(d.name) ?? new Map<number, number>()).entries()].sort((a, b) => a[0] - b[0]);
    return {
      name: d.name,
      endpoint: d.endpoint,
      version: d.resolved.version,
      state: d.state,
      message: d.message,
      canaryWeight: endpoints.find((e) => e.canary === d.name)?.canaryWeight ?? 0,
      replicas: revs.flatMap((r) => r.replicas.map((x) => ({ idx: x.idx, pid: x.pid, state: x.state, restarts: x.restarts, inflight: x.inflight, gpu: gpuText(x.gpu) }))),
      requests: total('requests'),
      errors: total('errors'),
      batches: total('batches'),
      batchedRequests: total('batchedRequests'),
      queued: total('queued'),
      inflight: total('inflight'),
      latency: { le: buckets.map((b) => b[0]), counts: buckets.map((b) => b[1]) },
      ...llmSnapshot(revs.map((r) => (r.stats as LlmStatsLike).llm), ttft.get(d.name)),
    };
  });
  const events = src.events(30).map((e) => ({ ts: e.ts, kind: e.kind, subject: e.subject, message: e.message }));
  return { t: Date.now(), daemon, deployments, gpus: src.gpus(), events };
}

type LlmStatsLike = DispatchStats & { llm?: { promptTokens: number; completionTokens: number; kv: { used: number; size: number } | null } };

/** An LLM deployment's part of the snapshot (nothing for tensor models). */
function llmSnapshot(stats: Array<LlmStatsLike['llm']>, ttft: Map<number, number> | undefined): Pick<DeploymentSnapshot, 'llm'> {
  const llm = stats.filter((s) => s !== undefined);
  if (llm.length === 0) return {};
  const b = [...(ttft ?? new Map<number, number>()).entries()].sort((x, y) => x[0] - y[0]);
  const kvs = llm.map((s) => s.kv).filter((k) => k !== null);
  return {
    llm: {
      promptTokens: llm.reduce((a, s) => a + s.promptTokens, 0),
      completionTokens: llm.reduce((a, s) => a + s.completionTokens, 0),
      ttft: { le: b.map((x) => x[0]), counts: b.map((x) => x[1]) },
      kv: kvs.length ? { used: kvs.reduce((a, k) => a + k.used, 0), size: kvs.reduce((a, k) => a + k.size, 0) } : null,
    },
  };
}
