// What `mlserve top` sees once a second: a snapshot of every deployment's counters, replicas,
// latency histogram buckets, GPUs and the last events. Rates come from two snapshots, in the CLI.
import type { Controller } from './control/controller.js';
import type { Metrics } from './metrics.js';
import type { Store } from './control/store.js';

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
}

export interface Snapshot {
  t: number;
  daemon: { pid: number; version: string; startedAt: number; url: string };
  deployments: DeploymentSnapshot[];
  gpus: { index: number; name: string; allocated: number; memoryUsedMiB: number; memoryTotalMiB: number; simulated: boolean }[];
  events: { ts: number; kind: string; subject: string; message: string }[];
}

export async function latencyByDeployment(metrics: Metrics | undefined): Promise<Map<string, Map<number, number>>> {
  const out = new Map<string, Map<number, number>>();
  if (!metrics) return out;
  const h = await metrics.duration.get();
  for (const v of h.values) {
    if (v.metricName !== 'mlserve_request_duration_seconds_bucket') continue;
    const dep = String(v.labels.deployment);
    const raw = (v.labels as Record<string, string | number>).le;
    const le = raw === '+Inf' ? Infinity : Number(raw);
    const m = out.get(dep) ?? new Map<number, number>();
    m.set(le, (m.get(le) ?? 0) + v.value);
    out.set(dep, m);
  }
  return out;
}

export async function takeSnapshot(controller: Controller, store: Store, daemon: Snapshot['daemon']): Promise<Snapshot> {
  const lat = await latencyByDeployment(controller.metrics);
  const endpoints = store.listEndpoints();
  const deployments = store.listDeployments().map((d): DeploymentSnapshot => {
    const rt = controller.runtimes.get(d.name);
    const stats = rt?.dispatcher.snapshot();
    const buckets = [...(lat.get(d.name) ?? new Map<number, number>()).entries()].sort((a, b) => a[0] - b[0]);
    return {
      name: d.name,
      endpoint: d.endpoint,
      version: d.resolved.version,
      state: d.state,
      message: d.message,
      canaryWeight: endpoints.find((e) => e.canary === d.name)?.canaryWeight ?? 0,
      replicas: (rt?.set.members ?? []).map((r) => ({
        idx: r.idx, pid: r.pid, state: r.state, restarts: r.restarts, inflight: rt!.dispatcher.inflightOf(r.idx),
        gpu: (r.gpu as { gpus?: { index: number; fraction: number }[] } | undefined)?.gpus?.map((g) => `${g.index}:${g.fraction}`).join(',') ?? '-',
      })),
      requests: stats?.requests ?? 0,
      errors: stats?.errors ?? 0,
      batches: stats?.batches ?? 0,
      batchedRequests: stats?.batchedRequests ?? 0,
      queued: stats?.queued ?? 0,
      inflight: stats?.inflight ?? 0,
      latency: { le: buckets.map((b) => b[0]), counts: buckets.map((b) => b[1]) },
    };
  });
  const inv = controller.gpus.inventory;
  const gpus = controller.gpus.shares().map((s) => {
    const g = inv.gpus.find((x) => x.uuid === s.uuid)!;
    return { index: g.index, name: g.name, allocated: s.allocated, memoryUsedMiB: g.memoryUsedMiB, memoryTotalMiB: g.memoryTotalMiB, simulated: inv.simulated };
  });
  const events = store.listEvents({ limit: 8 }).map((e) => ({ ts: e.ts, kind: e.kind, subject: e.subject, message: e.message }));
  return { t: Date.now(), daemon, deployments, gpus, events };
}
