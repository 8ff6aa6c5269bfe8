// Every mlserve_* Prometheus metric is declared here (prom-client, a registry of our own).
// Request, batch and load-time metrics are observed as they happen; gauges and totals that the
// store or the replica sets already know are read at scrape time.
import client from 'prom-client';
import type { Controller } from './control/controller.js';
import type { Store } from './control/store.js';

/** Buckets that resolve sub-millisecond latencies (100 us) up to 30 s. */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
export const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

export class Metrics {
  readonly registry = new client.Registry();
  readonly requests: client.Counter<'endpoint' | 'deployment' | 'version' | 'code'>;
  readonly errors: client.Counter<'endpoint' | 'deployment' | 'version' | 'code'>;
  readonly duration: client.Histogram<'endpoint' | 'deployment' | 'version'>;
  readonly queue: client.Histogram<'deployment'>;
  readonly compute: client.Histogram<'deployment'>;
  readonly batch: client.Histogram<'deployment'>;
  readonly load: client.Histogram<'deployment'>;

  constructor(controller: () => Controller | undefined, store: Store) {
    const registers = [this.registry];
    this.requests = new client.Counter({ name: 'mlserve_requests_total', help: 'Inference requests answered, by status code', labelNames: ['endpoint', 'deployment', 'version', 'code'], registers });
    this.errors = new client.Counter({ name: 'mlserve_request_errors_total', help: 'Inference requests answered with a 4xx or 5xx status', labelNames: ['endpoint', 'deployment', 'version', 'code'], registers });
    this.duration = new client.Histogram({ name: 'mlserve_request_duration_seconds', help: 'End-to-end latency of inference requests in the daemon', labelNames: ['endpoint', 'deployment', 'version'], buckets: LATENCY_BUCKETS, registers });
    this.queue = new client.Histogram({ name: 'mlserve_queue_duration_seconds', help: 'Time a request waited in its deployment queue', labelNames: ['deployment'], buckets: LATENCY_BUCKETS, registers });
    this.compute = new client.Histogram({ name: 'mlserve_compute_duration_seconds', help: 'onnxruntime time per batch in the replica', labelNames: ['deployment'], buckets: LATENCY_BUCKETS, registers });
    this.batch = new client.Histogram({ name: 'mlserve_batch_size', help: 'Requests per batch sent to a replica', labelNames: ['deployment'], buckets: BATCH_BUCKETS, registers });
    this.load = new client.Histogram({ name: 'mlserve_model_load_seconds', help: 'Time a replica took to load its model', labelNames: ['deployment'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers });

    const runtimes = () => [...(controller()?.runtimes.values() ?? [])];
    new client.Gauge({
      name: 'mlserve_ongoing_requests', help: 'Requests running on replicas', labelNames: ['deployment'], registers,
      collect() {
        this.reset();
        for (const rt of runtimes()) this.set({ deployment: rt.row.name }, rt.dispatcher.snapshot().inflight);
      },
    });
    new client.Gauge({
      name: 'mlserve_queued_requests', help: 'Requests waiting in a deployment queue', labelNames: ['deployment'], registers,
      collect() {
        this.reset();
        for (const rt of runtimes()) this.set({ deployment: rt.row.name }, rt.dispatcher.snapshot().queued);
      },
    });
    new client.Gauge({
      name: 'mlserve_replicas', help: 'Replicas by state', labelNames: ['deployment', 'state'], registers,
      collect() {
        this.reset();
        for (const rt of runtimes()) {
          const counts = new Map<string, number>();
          for (const r of rt.set.members) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
          for (const [state, n] of counts) this.set({ deployment: rt.row.name, state }, n);
        }
      },
    });
    new client.Counter({
      name: 'mlserve_replica_restarts_total', help: 'Replica restarts after a crash or failed health checks', labelNames: ['deployment'], registers,
      collect() {
        this.reset();
        const byDep = new Map<string, number>();
        for (const r of store.listReplicas()) byDep.set(r.deployment, (byDep.get(r.deployment) ?? 0) + r.restarts);
        for (const [deployment, n] of byDep) this.inc({ deployment }, n);
      },
    });
    new client.Counter({
      name: 'mlserve_daemon_starts_total', help: 'Times a daemon started on this MLSERVE_HOME', registers,
      collect() {
        this.reset();
        this.inc(store.daemonStarts());
      },
    });
    new client.Gauge({
      name: 'mlserve_canary_weight', help: 'Share of an endpoint\'s traffic (percent) sent to its canary', labelNames: ['endpoint'], registers,
      collect() {
        this.reset();
        for (const e of store.listEndpoints()) this.set({ endpoint: e.name }, e.canary ? e.canaryWeight : 0);
      },
    });
    const gpuGauge = (name: string, help: string, value: (g: { memoryUsedMiB: number; memoryTotalMiB: number; utilizationPct: number; allocated: number }) => number) =>
      new client.Gauge({
        name, help, labelNames: ['gpu'], registers,
        collect() {
          this.reset();
          const c = controller();
          if (!c) return;
          const inv = c.gpus.inventory.gpus;
          for (const s of c.gpus.shares()) {
            const g = inv.find((x) => x.uuid === s.uuid);
            if (g) this.set({ gpu: String(g.index) }, value({ ...g, allocated: s.allocated }));
          }
        },
      });
    gpuGauge('mlserve_gpu_memory_used_bytes', 'GPU memory in use (nvidia-smi)', (g) => g.memoryUsedMiB * 2 ** 20);
    gpuGauge('mlserve_gpu_memory_total_bytes', 'GPU memory in all', (g) => g.memoryTotalMiB * 2 ** 20);
    gpuGauge('mlserve_gpu_share_allocated_ratio', 'Share of a GPU placed replicas hold (0..1)', (g) => g.allocated);
    gpuGauge('mlserve_gpu_utilization_ratio', 'GPU utilization (nvidia-smi, 0..1)', (g) => g.utilizationPct / 100);
  }

  /** One answered inference request. */
  observeRequest(labels: { endpoint: string; deployment: string; version: string }, status: number, seconds: number): void {
    const code = String(status);
    this.requests.inc({ ...labels, code });
    if (status >= 400) this.errors.inc({ ...labels, code });
    if (status < 400) this.duration.observe(labels, seconds);
  }

  /** One batch a replica ran. */
  observeBatch(deployment: string, size: number, computeMs: number, queueMs: number[]): void {
    this.batch.observe({ deployment }, size);
    this.compute.observe({ deployment }, computeMs / 1000);
    for (const q of queueMs) this.queue.observe({ deployment }, q / 1000);
  }
}
