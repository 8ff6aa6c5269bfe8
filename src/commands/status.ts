import { BaseCommand } from '../cli/base.js';
import { formatAge, table } from '../cli/format.js';
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
  })[];
};

export default class Status extends BaseCommand {
  static override description = 'Show endpoints, deployments and replicas';

  async run(): Promise<StatusView> {
    await this.parse(Status);
    const s = await this.client.call<StatusView>('GET', '/v1/status');
    this.say(`daemon pid ${s.daemon.pid}, ingress ${s.daemon.ingress.url}, started ${s.daemon.starts} time(s)`);
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
        this.say(`  autoscaling: ${a.min_replicas}..${a.max_replicas} replicas, target ${a.target_ongoing_requests} ongoing, delays up ${a.upscale_delay_s}s / down ${a.downscale_delay_s}s`);
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
}

function gpuText(gpu: unknown): string {
  const a = gpu as { gpus?: { index: number; fraction: number }[] } | null | undefined;
  return a?.gpus?.map((g) => `${g.index}:${g.fraction}`).join(',') || '-';
}
