import { Args } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { exampleCurl, signatureLines } from '../cli/describe.js';
import { formatAge, table } from '../cli/format.js';
import { notFound } from '../errors.js';
import type { Signature } from '../tensor.js';
import { llmStatusLines } from '../cli/llm-status.js';
import type { DaemonInfo } from '../daemon/control/control-server.js';
import type { DeploymentRow, EndpointRow, ReplicaRow } from '../daemon/control/store.js';
import type { DispatchOptions, DispatchStats } from '../daemon/dataplane/dispatcher.js';

type StatusView = {
  daemon: DaemonInfo;
  endpoints: EndpointRow[];
  gpus: { source: string; simulated: boolean; count: number };
  deployments: (DeploymentRow & {
    replicas: ReplicaRow[]; stats: DispatchStats | null; dispatch: DispatchOptions; runtime: string; revision: string;
    revisions: { revision: string; role: string; phase: string }[]; failure: { revision: string; message: string | null } | null;
    about: { python?: { version?: string; mlflow?: string; flavors?: string[]; signature?: string } } | null;
    threads: { threads: number; reason: string } | null;
    spec: Signature | null;
  })[];
  readiness?: { strict: boolean; ready: boolean; holding: { endpoint: string; deployment: string | null; state: string; message: string | null }[] };
};
type Detail = { endpoint: string; deployments: (StatusView['deployments'][number] & { role: string; example: ReturnType<typeof exampleCurl> | null })[] };

export default class Status extends BaseCommand {
  static override description = 'Show endpoints, deployments and replicas; with an endpoint, its inputs and outputs and a curl that calls it';
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status demo   # inputs, outputs and a ready-to-run curl'];
  static override args = { target: Args.string({ description: 'an endpoint (or deployment): show its inputs, outputs and an example request' }) };

  async run(): Promise<StatusView | Detail> {
    const { args } = await this.parse(Status);
    const s = await this.client.call<StatusView>('GET', '/v1/status');
    if (args.target) return this.detail(s, args.target);
    this.say(`daemon pid ${s.daemon.pid}, ingress ${s.daemon.ingress.url}, started ${s.daemon.starts} time(s)`);
    const r = s.readiness;
    if (r && !r.ready) {
      const why = r.holding.map((h) => `${h.deployment ?? h.endpoint} (endpoint ${h.endpoint}) is ${h.state}${h.message ? `: ${h.message.replace(/\.$/, '')}` : ''}`).join('; ');
      this.say(`server NOT ready (GET /v2/health/ready is 503, strict readiness): ${why}. Undeploy what failed, or start the daemon with --no-strict-readiness`);
    } else if (r) this.say(`server ready (GET /v2/health/ready is 200${r.strict ? '' : ', readiness not strict'})${r.holding.length ? `; not ready: ${r.holding.map((h) => h.endpoint).join(', ')}` : ''}`);
    if (s.gpus.count > 0 || s.gpus.simulated) this.say(`GPUs: ${s.gpus.count} from ${s.gpus.source}`);
    if (s.deployments.length === 0) {
      this.say('nothing deployed: try mlserve deploy <model> (or mlserve quickstart)');
      return s;
    }
    this.say('');
    this.say(
      table(
        ['ENDPOINT', 'DEPLOYMENT', 'VERSION', 'STATE', 'READY', 'REQS', 'ERRS'],
        s.deployments.map((d) => [
          d.endpoint,
          d.name,
          d.resolved.version,
          d.state,
          `${d.replicas.filter((r) => r.state === 'ready').length}/${d.settings.replicas}`,
          String(d.stats?.requests ?? 0),
          String(d.stats?.errors ?? 0),
        ]),
      ),
    );
    this.say('');
    for (const d of s.deployments) {
      const pin = d.resolved.kind === 'path' ? d.modelUri : `${d.modelUri} -> version ${d.resolved.version}`;
      this.say(`${d.name}: ${pin}`);
      const py = d.about?.python;
      if (d.runtime === 'python') {
        const sig = py?.signature === 'none' ? 'no signature: it takes what mlflow.pyfunc takes' : py?.signature ? `${py.signature} signature` : 'loading';
        this.say(`  runtime: python ${py?.version ?? ''} (${d.settings.envManager ?? 'local'} ${d.settings.python ?? ''}), mlflow ${py?.mlflow ?? '?'}, flavors ${py?.flavors?.join(', ') ?? '?'}; ${sig}`.replace(/ {2,}/g, ' '));
      } else if (d.runtime === 'llamacpp' || d.runtime === 'openai') {
        for (const line of llmStatusLines(d as Parameters<typeof llmStatusLines>[0])) this.say(line);
      } else this.say('  runtime: onnx');
      const next = d.revisions?.find((r) => r.role === 'next');
      if (next) this.say(`  rolling out revision ${next.revision} (${next.phase}); revision ${d.revisions.find((r) => r.role === 'serving')?.revision ?? '-'} serves meanwhile`);
      if (d.failure && d.failure.revision === d.revision) this.say(`  revision ${d.revision} failed to start: ${d.failure.message ?? 'see mlserve events'}`);
      const b = d.dispatch;
      if (d.settings.autoscaling) {
        const a = d.settings.autoscaling;
        this.say(`  autoscaling: ${a.min_replicas}..${a.max_replicas} replicas, target ${a.target_ongoing_requests} ongoing, delays up ${a.upscale_delay_s}s / down ${a.downscale_delay_s}s${a.target_p99_ms != null ? `, p99 target ${a.target_p99_ms} ms` : ''}`);
      }
      if (d.settings.gpus) this.say(`  gpus: ${d.settings.gpus} per replica`);
      if (d.threads) this.say(`  threads: ${d.threads.threads} per replica (${d.threads.reason})`);
      if (d.runtime !== 'llamacpp' && d.runtime !== 'openai') this.say(`  batching: max ${b.maxBatchSize} rows, wait ${b.batchWaitMs} ms, ${b.maxConcurrentBatches} batch(es)/replica; queue <= ${b.maxQueued}, timeout ${b.timeoutMs} ms`);
      if (d.stats?.batches) this.say(`  served: ${d.stats.batchedRequests} requests in ${d.stats.batches} batches (mean ${(d.stats.batchedRequests / d.stats.batches).toFixed(1)}), ${d.stats.queued} queued`);
    }
    for (const d of s.deployments) {
      if (d.message) this.say(`\n${d.name}: ${d.message}`);
    }
    this.say('');
    const rows = s.deployments.flatMap((d) =>
      d.replicas.map((r) => [d.name, String(r.idx), r.pid ? String(r.pid) : '-', r.state, String(r.restarts), r.startedAt ? formatAge(Date.now() - r.startedAt) : '-', gpuText(r.gpu)]),
    );
    this.say(table(['DEPLOYMENT', 'REPLICA', 'PID', 'STATE', 'RESTARTS', 'AGE', 'GPU'], rows));
    for (const d of s.deployments) for (const r of d.replicas) if (r.lastError && r.state !== 'ready') this.say(`${d.name}/${r.idx}: ${r.lastError}`);
    return s;
  }

  /** An endpoint's deployments (or one deployment): state, inputs and outputs, and an example request. */
  private detail(s: StatusView, target: string): Detail {
    const e = s.endpoints.find((x) => x.name === target);
    const deps = e
      ? s.deployments.filter((d) => d.endpoint === target).sort((a, b) => Number(b.name === e.primary) - Number(a.name === e.primary))
      : s.deployments.filter((d) => d.name === target);
    if (deps.length === 0) {
      const known = [...new Set([...s.endpoints.map((x) => x.name), ...s.deployments.map((d) => d.name)])].sort();
      throw notFound(`no endpoint or deployment named '${target}'; ${known.length ? `known: ${known.join(', ')}` : 'nothing is deployed'}`);
    }
    const width = process.stdout.isTTY ? Math.max(80, process.stdout.columns ?? 80) : 10_000;
    const out: Detail = { endpoint: deps[0].endpoint, deployments: [] };
    for (const d of deps) {
      const ep = s.endpoints.find((x) => x.name === d.endpoint);
      const role = ep?.primary === d.name ? 'primary' : ep?.canary === d.name ? `canary at ${ep.canaryWeight}%` : ep?.nextPrimary === d.name ? 'replacing the primary' : 'deployment';
      const sig = d.spec ?? d.signature;
      const example = sig && sig.inputs.length ? exampleCurl(s.daemon.ingress.url, d.endpoint, sig) : null;
      out.deployments.push({ ...d, role, example });
      this.say(`${d.name} (${role} of endpoint ${d.endpoint}): ${d.modelUri}${d.resolved.kind === 'path' ? '' : ` -> version ${d.resolved.version}`}, ${d.state}${d.message ? ` (${d.message})` : ''}`);
      if (!sig) {
        this.say(d.runtime === 'python' ? '  no signature: it takes what mlflow.pyfunc takes (see the model\'s docs)' : '  inputs and outputs: known once a replica has loaded the model');
        continue;
      }
      for (const line of signatureLines(sig, width)) this.say(`  ${line}`);
      if (example && ep?.primary === d.name) this.say(`\n  try it:\n  ${example.curl}`);
    }
    return out;
  }
}

function gpuText(gpu: unknown): string {
  const a = gpu as { gpus?: { index: number; fraction: number }[] } | null | undefined;
  return a?.gpus?.map((g) => `${g.index}:${g.fraction}`).join(',') || '-';
}
