// What `mlserve status` and `mlserve gpus` show: the desired state from the store joined with what
// runs (revisions, replicas, queue counters, the batching policy in force).
import { dispatchOptions, revisionOf } from './settings.js';
import type { Fleet } from '../fleet/fleet.js';
import { findKind } from '../fleet/kinds/index.js';
import type { GpuBook } from '../fleet/placement.js';
import type { Store } from './store.js';

export function status(store: Store, fleet: Fleet, gpus: GpuBook) {
  const deployments = store.listDeployments().map((d) => {
    const active = fleet.active(d.name);
    const next = fleet.next(d.name);
    const kind = findKind(d.settings.runtime);
    return {
      ...d,
      runtime: d.settings.runtime ?? 'onnx',
      revision: revisionOf(d),
      failure: fleet.failure(d.name),
      revisions: [active, next].filter((r) => r !== null).map((r) => ({ revision: r.revision, role: r === active ? 'serving' : 'next', phase: r.phase() })),
      replicas: store.listReplicas(d.name),
      stats: active ? active.dispatcher.snapshot() : null,
      dispatch: active ? active.dispatchOptions() : dispatchOptions(d.settings, d.signature, kind?.batchable ?? (() => false)),
      spec: active?.spec ?? null,
      /** What the serving replicas said about themselves (python: versions, flavors, signature form, params). */
      about: active?.about ?? null,
    };
  });
  const inv = gpus.inventory;
  return { endpoints: store.listEndpoints(), deployments, gpus: { source: inv.source, simulated: inv.simulated, count: inv.gpus.length } };
}

export function gpuReport(gpus: GpuBook) {
  const inv = gpus.inventory;
  return { source: inv.source, simulated: inv.simulated, mps: inv.mps, gpus: gpus.shares().map((s) => ({ ...s, ...inv.gpus.find((g) => g.uuid === s.uuid) })) };
}
