// Every mlserve_* Prometheus metric is declared here (prom-client, a registry of our own).
// Request, batch and load-time metrics are observed as they happen; gauges and totals that the
// store or the replica sets already know are read at scrape time, through the read model below.
import client from 'prom-client';

/** What the metrics read at scrape time (the daemon's composition root wires it to the fleet and store). */
export interface MetricsSource {
  /** Every running deployment revision: its queue and replicas. */
  runtimes(): Iterable<{ name: string; queued: number; inflight: number; replicaStates: string[]; endpoint?: string; llm?: { kv: { used: number; size: number } | null } }>;
  /** Restarts per deployment (kept across daemon restarts). */
  restarts(): Map<string, number>;
  daemonStarts(): number;
  /** Canary weight per endpoint (0 without a canary). */
  canaryWeights(): Map<string, number>;
  gpus(): Array<{ index: number; memoryUsedMiB: number; memoryTotalMiB: number; utilizationPct: number; allocated: number }>;
}

/** Buckets that resolve sub-millisecond latencies (100 us) up to 30 s. */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
export const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];
/** Most recent request latencies kept per deployment for its latency SLO (target_p99_ms), at least. */
const KEPT_LATENCIES = 20_000;

export class Metrics {
  readonly registry = new client.Registry();
  readonly requests: client.Counter<'endpoint' | 'deployment' | 'version' | 'code'>;
  readonly errors: client.Counter<'endpoint' | 'deployment' | 'version' | 'code'>;
  readonly duration: client.Histogram<'endpoint' | 'deployment' | 'version'>;
  readonly queue: client.Histogram<'deployment'>;
  readonly compute: client.Histogram<'deployment'>;
  readonly batch: client.Histogram<'deployment'>;
  readonly load: client.Histogram<'deployment'>;
  /** LLM endpoints: time to first token, between tokens, and tokens in and out. */
  readonly ttft: client.Histogram<'endpoint' | 'deployment' | 'version'>;
  readonly itl: client.Histogram<'endpoint' | 'deployment'>;
  readonly promptTokens: client.Counter<'endpoint' | 'deployment' | 'version'>;
  readonly completionTokens: client.Counter<'endpoint' | 'deployment' | 'version'>;
  /** Answered requests' latencies of the deployments that asked (keepLatencies): t in performance.now() s. */
  private readonly kept = new Map<string, { holders: Set<string>; samples: Array<{ t: number; ms: number }> }>();

  constructor(src: MetricsSource) {
    const registers = [this.registry];
    this.requests = new client.Counter({ name: 'mlserve_requests_total', help: 'Inference requests answered, by status code', labelNames: ['endpoint', 'deployment', 'version', 'code'], registers });
    this.errors = new client.Counter({ name: 'mlserve_request_errors_total', help: 'Inference requests answered with a 4xx or 5xx status (499, the client left, is not counted)', labelNames: ['endpoint', 'deployment', 'version', 'code'], registers });
    this.duration = new client.Histogram({ name: 'mlserve_request_duration_seconds', help: 'End-to-end latency of inference requests in the daemon', labelNames: ['endpoint', 'deployment', 'version'], buckets: LATENCY_BUCKETS, registers });
    this.queue = new client.Histogram({ name: 'mlserve_queue_duration_seconds', help: 'Time a request waited in its deployment queue', labelNames: ['deployment'], buckets: LATENCY_BUCKETS, registers });
    this.compute = new client.Histogram({ name: 'mlserve_compute_duration_seconds', help: 'onnxruntime time per batch in the replica', labelNames: ['deployment'], buckets: LATENCY_BUCKETS, registers });
    this.batch = new client.Histogram({ name: 'mlserve_batch_size', help: 'Requests per batch sent to a replica', labelNames: ['deployment'], buckets: BATCH_BUCKETS, registers });
    this.load = new client.Histogram({ name: 'mlserve_model_load_seconds', help: 'Time a replica took to load its model', labelNames: ['deployment'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers });

    this.ttft = new client.Histogram({ name: 'mlserve_llm_time_to_first_token_seconds', help: 'LLM requests: from arrival in the daemon to the first generated text', labelNames: ['endpoint', 'deployment', 'version'], buckets: LATENCY_BUCKETS, registers });
    this.itl = new client.Histogram({ name: 'mlserve_llm_inter_token_latency_seconds', help: 'LLM requests: time between generated tokens as the daemon receives them', labelNames: ['endpoint', 'deployment'], buckets: LATENCY_BUCKETS, registers });
    this.promptTokens = new client.Counter({ name: 'mlserve_llm_prompt_tokens_total', help: 'LLM prompt tokens processed (rate() = input tokens/s)', labelNames: ['endpoint', 'deployment', 'version'], registers });
    this.completionTokens = new client.Counter({ name: 'mlserve_llm_completion_tokens_total', help: 'LLM tokens generated (rate() = output tokens/s)', labelNames: ['endpoint', 'deployment', 'version'], registers });
    new client.Gauge({
      name: 'mlserve_llm_requests_waiting', help: 'LLM requests waiting for a replica slot, per endpoint', labelNames: ['endpoint', 'deployment'], registers,
      collect() {
        this.reset();
        for (const rt of src.runtimes()) if (rt.llm && rt.endpoint) this.inc({ endpoint: rt.endpoint, deployment: rt.name }, rt.queued);
      },
    });
    new client.Gauge({
      name: 'mlserve_llm_kv_cache_usage_ratio', help: 'Share of the KV-cache cells in use over a deployment\'s replicas (engines that report it)', labelNames: ['deployment'], registers,
      collect() {
        this.reset();
        for (const rt of src.runtimes()) if (rt.llm?.kv && rt.llm.kv.size > 0) this.set({ deployment: rt.name }, rt.llm.kv.used / rt.llm.kv.size);
      },
    });

    // Two revisions of one deployment may run at once (a blue-green replacement): their numbers add up.
    const sum = (g: client.Gauge<'deployment'>, pick: (r: { queued: number; inflight: number }) => number) => {
      g.reset();
      const by = new Map<string, number>();
      for (const rt of src.runtimes()) by.set(rt.name, (by.get(rt.name) ?? 0) + pick(rt));
      for (const [deployment, n] of by) g.set({ deployment }, n);
    };
    new client.Gauge({
      name: 'mlserve_ongoing_requests', help: 'Requests running on replicas', labelNames: ['deployment'], registers,
      collect() {
        sum(this, (r) => r.inflight);
      },
    });
    new client.Gauge({
      name: 'mlserve_queued_requests', help: 'Requests waiting in a deployment queue', labelNames: ['deployment'], registers,
      collect() {
        sum(this, (r) => r.queued);
      },
    });
    new client.Gauge({
      name: 'mlserve_replicas', help: 'Replicas by state', labelNames: ['deployment', 'state'], registers,
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const rt of src.runtimes()) for (const s of rt.replicaStates) counts.set(`${rt.name}\0${s}`, (counts.get(`${rt.name}\0${s}`) ?? 0) + 1);
        for (const [k, n] of counts) {
          const [deployment, state] = k.split('\0');
          this.set({ deployment, state }, n);
        }
      },
    });
    new client.Counter({
      name: 'mlserve_replica_restarts_total', help: 'Replica restarts after a crash or failed health checks', labelNames: ['deployment'], registers,
      collect() {
        this.reset();
        for (const [deployment, n] of src.restarts()) this.inc({ deployment }, n);
      },
    });
    new client.Counter({
      name: 'mlserve_daemon_starts_total', help: 'Times a daemon started on this MLSERVE_HOME', registers,
      collect() {
        this.reset();
        this.inc(src.daemonStarts());
      },
    });
    new client.Gauge({
      name: 'mlserve_canary_weight', help: 'Share of an endpoint\'s traffic (percent) sent to its canary', labelNames: ['endpoint'], registers,
      collect() {
        this.reset();
        for (const [endpoint, w] of src.canaryWeights()) this.set({ endpoint }, w);
      },
    });
    const gpuGauge = (name: string, help: string, value: (g: { memoryUsedMiB: number; memoryTotalMiB: number; utilizationPct: number; allocated: number }) => number) =>
      new client.Gauge({
        name, help, labelNames: ['gpu'], registers,
        collect() {
          this.reset();
          for (const g of src.gpus()) this.set({ gpu: String(g.index) }, value(g));
        },
      });
    gpuGauge('mlserve_gpu_memory_used_bytes', 'GPU memory in use (nvidia-smi)', (g) => g.memoryUsedMiB * 2 ** 20);
    gpuGauge('mlserve_gpu_memory_total_bytes', 'GPU memory in all', (g) => g.memoryTotalMiB * 2 ** 20);
    gpuGauge('mlserve_gpu_share_allocated_ratio', 'Share of a GPU placed replicas hold (0..1)', (g) => g.allocated);
    gpuGauge('mlserve_gpu_utilization_ratio', 'GPU utilization (nvidia-smi, 0..1)', (g) => g.utilizationPct / 100);
  }

  /**
   * Label children bound once per label set (prom-client hashes the label object on every call
   * otherwise: three hashes per request on the hot path). These series are never removed, so a
   * bound child stays valid. A child is made on first use, so no series appears before it is observed.
   */
  private readonly bound = new Map<string, { requests: client.Counter.Internal; errors?: client.Counter.Internal; duration?: client.Histogram.Internal<'endpoint' | 'deployment' | 'version'> }>();
  private readonly boundBatch = new Map<string, { batch: client.Histogram.Internal<'deployment'>; compute: client.Histogram.Internal<'deployment'>; queue: client.Histogram.Internal<'deployment'> }>();

  /** One answered inference request. */
  observeRequest(labels: { endpoint: string; deployment: string; version: string }, status: number, seconds: number): void {
    const key = `${labels.endpoint}\0${labels.deployment}\0${labels.version}\0${status}`;
    let b = this.bound.get(key);
    if (!b) {
      b = { requests: this.requests.labels({ ...labels, code: String(status) }) };
      this.bound.set(key, b);
    }
    b.requests.inc();
    // 499: the client left before its answer (nginx's code): its own doing, not an error rate to alert or gate on.
    if (status >= 400 && status !== 499) (b.errors ??= this.errors.labels({ ...labels, code: String(status) })).inc();
    if (status < 400) (b.duration ??= this.duration.labels(labels)).observe(seconds);
    const kept = status < 400 ? this.kept.get(labels.deployment)?.samples : undefined;
    if (kept) {
      kept.push({ t: performance.now() / 1000, ms: seconds * 1000 });
      // Trimmed in bulk (at twice the size, back to KEPT_LATENCIES): one splice per 20,000 requests, not one per request.
      if (kept.length >= 2 * KEPT_LATENCIES) kept.splice(0, kept.length - KEPT_LATENCIES);
    }
  }

  /**
   * Keep a deployment's request latencies, as observeRequest sees them, for its latency SLO while
   * any `holder` (a revision of it) wants them.
   */
  keepLatencies(deployment: string, holder: string, on: boolean): void {
    const k = this.kept.get(deployment) ?? { holders: new Set<string>(), samples: [] };
    if (on) k.holders.add(holder);
    else k.holders.delete(holder);
    if (k.holders.size > 0) this.kept.set(deployment, k);
    else this.kept.delete(deployment);
  }

  /** The latencies kept for a deployment (oldest first), with `t` in performance.now() seconds. */
  latencies(deployment: string): ReadonlyArray<{ t: number; ms: number }> {
    const kept = this.kept.get(deployment)?.samples ?? [];
    if (kept.length > KEPT_LATENCIES) kept.splice(0, kept.length - KEPT_LATENCIES); // here, not per request
    return kept;
  }

  observeLoad(deployment: string, seconds: number): void {
    this.load.observe({ deployment }, seconds);
  }

  /** One LLM request that produced text: its TTFT, the gaps between its tokens, its token counts. */
  observeLlm(labels: { endpoint: string; deployment: string; version: string }, o: { ttftS: number | null; itlS: readonly number[]; promptTokens: number; completionTokens: number }): void {
    if (o.ttftS !== null) this.ttft.observe(labels, o.ttftS);
    const short = { endpoint: labels.endpoint, deployment: labels.deployment };
    for (const s of o.itlS) this.itl.observe(short, s);
    if (o.promptTokens) this.promptTokens.inc(labels, o.promptTokens);
    if (o.completionTokens) this.completionTokens.inc(labels, o.completionTokens);
  }

  /** Cumulative request-latency buckets per deployment: upper bound (s) -> count. */
  latencyByDeployment(): Promise<Map<string, Map<number, number>>> {
    return this.bucketsByDeployment(this.duration, 'mlserve_request_duration_seconds_bucket');
  }

  /** Cumulative time-to-first-token buckets per LLM deployment. */
  ttftByDeployment(): Promise<Map<string, Map<number, number>>> {
    return this.bucketsByDeployment(this.ttft, 'mlserve_llm_time_to_first_token_seconds_bucket');
  }

  /** Tokens in and out per deployment so far. */
  async tokensByDeployment(): Promise<Map<string, { prompt: number; completion: number }>> {
    const out = new Map<string, { prompt: number; completion: number }>();
    for (const [c, key] of [[this.promptTokens, 'prompt'], [this.completionTokens, 'completion']] as const) {
      for (const v of (await c.get()).values) {
        const dep = String(v.labels.deployment);
        const t = out.get(dep) ?? { prompt: 0, completion: 0 };
        t[key] += v.value;
        out.set(dep, t);
      }
    }
    return out;
  }

  private async bucketsByDeployment(hist: client.Histogram<string>, bucketName: string): Promise<Map<string, Map<number, number>>> {
    const out = new Map<string, Map<number, number>>();
    const h = await hist.get();
    for (const v of h.values) {
      if (v.metricName !== bucketName) continue;
      const dep = String(v.labels.deployment);
      const raw = (v.labels as Record<string, string | number>).le;
      const le = raw === '+Inf' ? Infinity : Number(raw);
      const m = out.get(dep) ?? new Map<number, number>();
      m.set(le, (m.get(le) ?? 0) + v.value);
      out.set(dep, m);
    }
    return out;
  }

  /** One batch a replica ran. */
  observeBatch(deployment: string, size: number, computeMs: number, queueMs: number[]): void {
    let b = this.boundBatch.get(deployment);
    if (!b) {
      b = { batch: this.batch.labels({ deployment }), compute: this.compute.labels({ deployment }), queue: this.queue.labels({ deployment }) };
      this.boundBatch.set(deployment, b);
    }
    b.batch.observe(size);
    b.compute.observe(computeMs / 1000);
    for (const q of queueMs) b.queue.observe(q / 1000);
  }
}
