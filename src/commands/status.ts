import { BaseCommand } from '../cli/base.js';
import { formatAge, table } from '../cli/format.js';
import type { DaemonInfo } from '../daemon/control-server.js';
import type { DeploymentRow, EndpointRow, ReplicaRow } from '../daemon/store.js';
import type { DispatchOptions, DispatchStats } from '../daemon/dispatcher.js';

type StatusView = {
  daemon: DaemonInfo;
  endpoints: EndpointRow[];
  deployments: (DeploymentRow & { replicas: ReplicaRow[]; stats: DispatchStats | null; dispatch: DispatchOptions })[];
};

export default class Status extends BaseCommand {
  static override description = 'Show endpoints, deployments and replicas';

  async run(): Promise<StatusView> {
    await this.parse(Status);
    const s = await this.client.call<StatusView>('GET', '/v1/status');
    this.say(`daemon pid ${s.daemon.pid}, ingress ${s.daemon.ingress.url}`);
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
      const b = d.dispatch;
      this.say(`  batching: max ${b.maxBatchSize} rows, wait ${b.batchWaitMs} ms, ${b.maxConcurrentBatches} batch(es)/replica; queue <= ${b.maxQueued}, timeout ${b.timeoutMs} ms`);
      if (d.stats?.batches) this.say(`  served: ${d.stats.batchedRequests} requests in ${d.stats.batches} batches (mean ${(d.stats.batchedRequests / d.stats.batches).toFixed(1)}), ${d.stats.queued} queued`);
    }
    for (const d of s.deployments) {
      if (d.message) this.say(`\n${d.name}: ${d.message}`);
    }
    this.say('');
    const rows = s.deployments.flatMap((d) =>
      d.replicas.map((r) => [d.name, String(r.idx), r.pid ? String(r.pid) : '-', r.state, String(r.restarts), r.startedAt ? formatAge(Date.now() - r.startedAt) : '-']),
    );
    this.say(table(['DEPLOYMENT', 'REPLICA', 'PID', 'STATE', 'RESTARTS', 'AGE'], rows));
    return s;
  }
}
