import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import type { DaemonInfo } from '../daemon/control/control-server.js';
import type { DeploymentRow } from '../daemon/control/store.js';
import { MLFLOW_CLIENT_ENV } from '../mlflow/rest-config.js';
import { ProgressBar } from '../cli/progress.js';
import { parseWeight } from '../daemon/rollout/canary.js';
import { parseLatencyTarget } from '../daemon/fleet/latency-slo.js';
import { stageFromFlag } from '../pipeline/spec.js';


export type DeploymentStatus = DeploymentRow & { replicas: { idx: number; state: string; pid: number | null }[] };

export default class Deploy extends BaseCommand {
  static override description = 'Deploy a model: a .onnx file, an MLflow model directory, or models:/Name/<version|Stage|latest>, models:/Name@alias';
  static override examples = [
    '<%= config.bin %> deploy models:/ResNet50/Production',
    '<%= config.bin %> deploy models:/ResNet50@champion --endpoint resnet50 --replicas 2',
    '<%= config.bin %> deploy ./model.onnx --threads 2',
    '<%= config.bin %> deploy ./tiny.gguf --endpoint chat --ctx-size 4096 --slots 4',
    "<%= config.bin %> deploy ./Llama-3.1-8B-Instruct --runtime openai --engine vllm --gpus 0.5 --endpoint chat",
    '<%= config.bin %> deploy ./resnet50 --pre image:resize=256,crop=224 --post softmax --post topk:k=5 --post labels:file=labels.txt',
  ];
  static override args = { source: Args.string({ description: 'model source', required: true }) };
  static override flags = {
    endpoint: Flags.string({ description: 'endpoint name clients call (default: the model name, lowercased)' }),
    name: Flags.string({ description: 'deployment name (default: <endpoint>-v<version>)' }),
    replicas: Flags.integer({ description: 'replica processes', default: 1, min: 1, max: 64 }),
    threads: Flags.integer({ description: 'CPU threads per replica (ONNX: shared among its onnxruntime sessions; OMP/MKL/torch threads for Python models)', min: 1 }),
    runtime: Flags.string({ description: 'replica kind: onnx (the fast path, needs the onnx flavor), python (mlflow.pyfunc), llamacpp (a GGUF language model) or openai (an external OpenAI-compatible engine); default: onnx with the onnx flavor, llamacpp for a GGUF, else python', options: ['onnx', 'python', 'llamacpp', 'openai'] }),
    'ctx-size': Flags.integer({ description: 'language models: tokens per request (prompt + answer) each slot holds (llamacpp default 2048)', min: 16 }),
    slots: Flags.integer({ description: 'language models: requests one replica generates at once (llamacpp: parallel sequences, default 4; openai: requests in flight, default 64)', min: 1 }),
    engine: Flags.string({ description: 'runtime openai: a known engine; vllm runs `vllm serve <model> --gpu-memory-utilization <GPU share>`', options: ['vllm'] }),
    'engine-cmd': Flags.string({ description: "runtime openai: any OpenAI-compatible server's command line, run without a shell; {port} {model} {gpu_share} {ctx_size} {slots} {threads} {host} are filled in" }),
    'engine-ready-timeout': Flags.integer({ description: 'runtime openai: seconds the engine may take to answer /health after it starts (default 600)', min: 1 }),
    'env-manager': Flags.string({ description: 'Python models: local (the Python of --python), virtualenv or uv (an environment built from the model\'s requirements); default local when it has what the model needs, else virtualenv', options: ['local', 'virtualenv', 'uv'] }),
    python: Flags.string({ description: 'Python models: the interpreter for --env-manager local (default $MLSERVE_PYTHON, else python3 on PATH)' }),
    gpus: Flags.string({ description: 'GPUs per replica, e.g. 0.33 or 1' }),
    'max-batch-size': Flags.integer({ description: 'most rows per batch (default 32 when every input and output has a dynamic first dim, else 1)', min: 1 }),
    'batch-wait-ms': Flags.integer({ description: 'how long a partial batch may wait for batch-mates (default 0: never)', min: 0 }),
    'max-concurrent-batches': Flags.integer({ description: 'batches one replica runs at once (ONNX on CPU: one onnxruntime session each, default 2 when the replica has 2+ threads; else 1)', min: 1 }),
    'max-ongoing-requests': Flags.integer({ description: 'requests one replica holds at once (default max-batch-size x max-concurrent-batches)', min: 1 }),
    'max-queued-requests': Flags.integer({ description: 'queue bound; past it clients get 503 + Retry-After (default 1000)', min: 1 }),
    'request-timeout-ms': Flags.integer({ description: 'deadline per request; past it 504 (default 30000)', min: 1 }),
    canary: Flags.string({ description: "start beside the endpoint's primary as its canary with this percent of its traffic (10, 10% or 0.5; 0 starts dark)" }),
    track: Flags.boolean({ description: 'follow the registry: when the alias or stage moves to a new version, roll out to it by itself (blue-green)', default: false }),
    'track-interval': Flags.integer({ description: 'seconds between registry checks with --track', default: 30, min: 1 }),
    replace: Flags.boolean({ description: 'blue-green: start beside the primary, switch all traffic once every replica is ready, then drain the old one', default: false, exclusive: ['canary'] }),
    'min-replicas': Flags.integer({ description: 'autoscaling: fewest replicas (0 = scale to zero; the first request waits for a cold start)', min: 0 }),
    'max-replicas': Flags.integer({ description: 'autoscaling: most replicas', min: 1 }),
    'target-ongoing-requests': Flags.string({ description: 'autoscaling: ongoing + queued requests per replica to aim for (default 2)' }),
    'upscale-delay-s': Flags.string({ description: 'autoscaling: load must stay high this long before scaling up (default 30)' }),
    'downscale-delay-s': Flags.string({ description: 'autoscaling: load must stay low this long before scaling down (default 600)' }),
    'target-p99': Flags.string({ description: 'autoscaling: a latency SLO (target_p99_ms), e.g. 200ms or 0.5s: add replicas while p99 is over it with requests queued, never scale down while it is not comfortably under it' }),
    'autoscaling-config': Flags.string({ description: "Ray Serve's autoscaling_config as JSON (any of its fields)" }),
    'health-check-period-s': Flags.integer({ description: 'seconds between replica health checks (default 10); 3 misses replace a replica', min: 1 }),
    'health-check-timeout-s': Flags.integer({ description: 'seconds a health check may take (default 30)', min: 1 }),
    warmup: Flags.boolean({ description: 'each replica runs one request built from the signature before it reports ready, so the first request does not pay the slow first run (--no-warmup skips it)', default: true, allowNo: true }),
    pre: Flags.string({ description: 'pipeline: pre-processing before the model, for POST /v2/models/<endpoint>/predict: image[:resize=256,crop=224,mean=r/g/b,std=r/g/b,scale=,layout=NCHW|NHWC,dtype=FP32|UINT8,size=h/w,input=,max_pixels=] or text[:tokenizer=tokenizer.json,max_length=,truncate=true,padding=longest|max_length]', multiple: true, multipleNonGreedy: true }),
    post: Flags.string({ description: 'pipeline: post-processing of the model output, in order: softmax, topk[:k=5], argmax, threshold:value=0.5, labels:file=<file in the model dir> or labels:list=a/b/c; for text embeddings mean_pool or cls_pool, then normalize; model:endpoint=<name> or ensemble:endpoints=a/b,merge=mean|concat to call other endpoints', multiple: true, multipleNonGreedy: true }),
    wait: Flags.boolean({ description: 'wait until the replicas are ready', default: true, allowNo: true }),
    timeout: Flags.integer({ description: 'seconds to wait for readiness', default: 120 }),
  };

  /** Ray Serve's autoscaling_config from --autoscaling-config and the shorthand flags. */
  private autoscaling(flags: Record<string, unknown>): Record<string, unknown> | undefined {
    let cfg: Record<string, unknown> = {};
    if (typeof flags['autoscaling-config'] === 'string') {
      try {
        cfg = JSON.parse(flags['autoscaling-config'] as string);
      } catch (err) {
        this.fail('USAGE', `--autoscaling-config is not JSON: ${(err as Error).message}`);
      }
    }
    const map: Array<[string, string]> = [
      ['min-replicas', 'min_replicas'], ['max-replicas', 'max_replicas'], ['target-ongoing-requests', 'target_ongoing_requests'],
      ['upscale-delay-s', 'upscale_delay_s'], ['downscale-delay-s', 'downscale_delay_s'],
    ];
    for (const [flag, field] of map) if (flags[flag] !== undefined) cfg[field] = Number(flags[flag]);
    if (typeof flags['target-p99'] === 'string') {
      try {
        cfg.target_p99_ms = parseLatencyTarget(flags['target-p99']);
      } catch (err) {
        this.fail('USAGE', `--target-p99: ${(err as Error).message}`);
      }
    }
    return Object.keys(cfg).length ? cfg : undefined;
  }

  async run(): Promise<DeploymentStatus> {
    const { args, flags } = await this.parse(Deploy);
    let gpus: number | undefined;
    if (flags.gpus !== undefined) {
      gpus = Number(flags.gpus);
      if (!Number.isFinite(gpus) || gpus < 0) this.fail('USAGE', `--gpus must be a number of GPUs such as 0.33 or 1 (got '${flags.gpus}')`);
    }
    const autoscaling = this.autoscaling(flags);
    let canary: number | undefined;
    let pipeline: unknown;
    try {
      canary = flags.canary === undefined ? undefined : parseWeight(flags.canary);
      if (flags.pre || flags.post) pipeline = { pre: (flags.pre ?? []).map(stageFromFlag), post: (flags.post ?? []).map(stageFromFlag) };
    } catch (err) {
      return this.fail('USAGE', (err as Error).message);
    }
    const env: Record<string, string> = {};
    for (const k of MLFLOW_CLIENT_ENV) if (process.env[k]) env[k] = process.env[k]!;
    if (process.env.MLSERVE_PYTHON) env.MLSERVE_PYTHON = process.env.MLSERVE_PYTHON;
    this.progress(`resolving ${args.source}...`);
    const bar = new ProgressBar(process.stderr, this.jsonEnabled());
    const row = await this.client
      .ndjson<DeploymentRow>('/v1/deployments?progress=1', {
        source: args.source, endpoint: flags.endpoint, name: flags.name, replicas: flags.replicas, threads: flags.threads, gpus, env, cwd: process.cwd(),
        runtime: flags.runtime, envManager: flags['env-manager'], python: flags.python,
        maxBatchSize: flags['max-batch-size'], batchWaitMs: flags['batch-wait-ms'], maxConcurrentBatches: flags['max-concurrent-batches'],
        maxOngoingRequests: flags['max-ongoing-requests'], maxQueuedRequests: flags['max-queued-requests'], requestTimeoutMs: flags['request-timeout-ms'],
        healthCheckPeriodS: flags['health-check-period-s'], healthCheckTimeoutS: flags['health-check-timeout-s'], autoscaling, canary, replace: flags.replace || undefined,
        trackIntervalS: flags.track ? flags['track-interval'] : undefined, warmup: flags.warmup ? undefined : false, pipeline,
        llm: { ctxSize: flags['ctx-size'], slots: flags.slots, engine: flags.engine, engineCmd: flags['engine-cmd'], readyTimeoutS: flags['engine-ready-timeout'] },
      }, (line) => {
        const p = line.progress as { message?: string } | undefined;
        if (p?.message) this.progress(`  ${p.message}`);
        else if (p) bar.update(p as Parameters<ProgressBar['update']>[0]);
      })
      .finally(() => bar.done());
    const pinned = row.resolved.kind === 'path' ? row.modelUri : `${row.modelUri} -> version ${row.resolved.version}`;
    this.progress(`deployment ${row.name} (${pinned}) on endpoint ${row.endpoint}: starting ${row.settings.replicas} replica(s)`);
    let status = await this.client.call<DeploymentStatus>('GET', `/v1/deployments/${encodeURIComponent(row.name)}`);
    if (flags.wait) {
      const deadline = Date.now() + flags.timeout * 1000;
      // Pending waits for GPU room other deployments hold: say so now rather than wait out the timeout.
      while (status.state === 'loading' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 150));
        status = await this.client.call<DeploymentStatus>('GET', `/v1/deployments/${encodeURIComponent(row.name)}`);
      }
      if (status.state === 'failed') {
        this.fail('DEPLOY_FAILED', `deployment ${row.name} failed: ${status.message}\nSee: mlserve logs ${row.name}; remove it with: mlserve undeploy ${row.name}`);
      }
      if (status.state === 'pending') {
        this.fail('PENDING', `deployment ${row.name} is pending: ${status.message}. It starts by itself once a GPU has room: free some with mlserve undeploy or mlserve scale (mlserve gpus shows who holds what), or remove it with mlserve undeploy ${row.name}`);
      }
      if (status.state !== 'ready') this.fail('NOT_READY', `deployment ${row.name} is not ready after ${flags.timeout}s (state ${status.state}); see mlserve status`);
    }
    const info = await this.client.call<DaemonInfo>('GET', '/v1/health');
    this.say(`deployed ${pinned} as ${row.name}: ${status.state}`);
    if (canary !== undefined) this.say(`  canary of endpoint ${row.endpoint} at ${canary}% of its traffic (from its first ready replica); change it with mlserve canary set N --endpoint ${row.endpoint}`);
    if (row.settings.runtime === 'llamacpp' || row.settings.runtime === 'openai') {
      this.say(`  OpenAI: POST ${info.ingress.url}/v1/chat/completions  {"model": "${row.endpoint}", "messages": [...], "stream": true}`);
      this.say(`          POST ${info.ingress.url}/v1/completions, GET ${info.ingress.url}/v1/models`);
      return status;
    }
    this.say(`  OIP:    POST ${info.ingress.url}/v2/models/${row.endpoint}/infer`);
    this.say(`  MLflow: POST ${info.ingress.url}/${row.endpoint}/invocations`);
    return status;
  }
}
