// What `mlserve status` and `mlserve gpus` show: the desired state from the store joined with what
// runs (revisions, replicas, queue counters, the batching policy in force).
import { dispatchOptions, revisionOf } from './settings.js';
import type { Fleet } from '../fleet/fleet.js';
import { findKind } from '../fleet/kinds/index.js';
import { withKindDefaults } from '../fleet/kinds/kind.js';
import type { GpuBook } from '../fleet/placement.js';
import type { ThreadPlan } from '../fleet/threads.js';
import type { Store } from './store.js';

export function status(store: Store, fleet: Fleet, gpus: GpuBook, threads: Map<string, ThreadPlan> = new Map()) {
  const deployments = store.listDeployments().map((d) => {
    const active = fleet.active(d.name);
    const next = fleet.next(d.name);
    const kind = findKind(d.settings.runtime);
    return {
      ...d,
      runtime: d.settings.runtime ?? 'onnx',
      // The revision it runs at: with the threads the machine gives it when --threads was left out.
      revision: revisionOf(d.settings.threads === undefined && threads.has(d.name) ? { ...d, settings: { ...d.settings, threads: threads.get(d.name)!.threads } } : d),
      failure: fleet.failure(d.name),
      /** CPU threads per replica, and why that many. */
      threads: threads.get(d.name) ?? null,
      revisions: [active, next].filter((r) => r !== null).map((r) => ({ revision: r.revision, role: r === active ? 'serving' : 'next', phase: r.phase() })),
      replicas: store.listReplicas(d.name),
      stats: active ? active.dispatcher.snapshot() : null,
      dispatch: active ? active.dispatchOptions() : dispatchOptions(withKindDefaults({ ...d.settings, threads: d.settings.threads ?? threads.get(d.name)?.threads }, kind), d.signature, kind?.batchable ?? (() => false)),
      spec: active?.spec ?? null,
      /** What the serving replicas said about themselves (python: versions, flavors, signature form, params). */
      about: active?.about ?? null,
    };
  });
  const inv = gpus.inventory;
  return { endpoints: store.listEndpoints(), deployments, gpus: { source: inv.source, simulated: inv.simulated, count: inv.gpus.length } };
}

/**
 * Server readiness (GET /v2/health/ready) and, when it is not ready, which deployments hold it:
 * endpoints whose primary has no ready replica. Strict (Triton's default): every endpoint must be
 * ready; not strict: the server is ready while it answers.
 */
export function readiness(routes: { unready(): Array<{ endpoint: string; deployment: string | null }> }, strict: boolean, store: Pick<Store, 'getEndpoint' | 'getDeployment'>) {
  const holding = routes.unready().map((u) => {
    const name = u.deployment ?? store.getEndpoint(u.endpoint)?.primary ?? null;
    const row = name ? store.getDeployment(name) : undefined;
    return { endpoint: u.endpoint, deployment: name, state: row?.state ?? 'not running', message: row?.message ?? null };
  });
  return { strict, ready: !strict || holding.length === 0, holding };
}

export function gpuReport(gpus: GpuBook) {
  const inv = gpus.inventory;
  return { source: inv.source, simulated: inv.simulated, mps: inv.mps, gpus: gpus.shares().map((s) => ({ ...s, ...inv.gpus.find((g) => g.uuid === s.uuid) })) };
}
