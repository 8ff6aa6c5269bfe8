// What `mlserve canary set|promote|rollback|shadow|start` do: write the endpoint's desired traffic
// split (one transaction), then hand over to the reconcile loop, which publishes the routes and
// drains what is no longer wanted. Promote and rollback can then write the result back to the
// registry (alias, stage): see registry-write.ts.
import { badRequest, MlserveError, notFound } from '../../errors.js';
import type { EndpointRow } from '../control/state.js';
import type { Store } from '../control/store.js';
import { initialState, validatePolicy, type CanaryCounters } from './canary-analysis.js';
import { checkWriteTarget, writeBack, type RegistryWriteRequest, type WriteBackDeps } from './registry-write.js';
import type { WriteOutcome } from '../../mlflow/write-back.js';

export interface CanaryDeps {
  store: Store;
  kick: () => Promise<void>;
  whenStopped: (deployment: string) => Promise<void>;
  counters: (deployment: string) => Promise<CanaryCounters>;
  /** Shadow comparison restarts when the share changes. */
  resetShadow: (endpoint: string) => void;
  /** Set an alias/stage in the registry (injected: tests stub it). */
  writeRegistry?: WriteBackDeps['write'];
}

/** An endpoint after promote/rollback, with what the registry write-back did (when asked for). */
export type EndpointWithWrite = EndpointRow & { registryWrite?: WriteOutcome };

export class CanaryCommands {
  constructor(private readonly deps: CanaryDeps) {}

  /** The endpoint with a canary: the one named, or the only one that has one. */
  canaryEndpoint(endpoint?: string): EndpointRow {
    const { store } = this.deps;
    if (endpoint) {
      const e = store.getEndpoint(endpoint);
      if (!e) throw notFound(`no endpoint named '${endpoint}'`);
      if (!e.canary) throw new MlserveError('NOT_FOUND', `endpoint ${endpoint} has no canary; start one with mlserve deploy <model> --endpoint ${endpoint} --canary 10%`);
      return e;
    }
    const withCanary = store.listEndpoints().filter((e) => e.canary);
    if (withCanary.length === 1) return withCanary[0];
    if (withCanary.length === 0) throw new MlserveError('NOT_FOUND', 'no endpoint has a canary; start one with mlserve deploy <model> --endpoint <name> --canary 10%');
    throw new MlserveError('BAD_REQUEST', `several endpoints have canaries (${withCanary.map((e) => e.name).join(', ')}); pass --endpoint`);
  }

  async setWeight(weight: number, endpoint?: string): Promise<EndpointRow> {
    const { store } = this.deps;
    const e = this.canaryEndpoint(endpoint);
    if (!(weight >= 0 && weight <= 100)) throw new MlserveError('BAD_REQUEST', `weight must be 0..100% (got ${weight})`);
    store.transaction(() => {
      store.setRouting(e.name, e.primary, e.canary, weight);
      store.addEvent('canary-weight', e.name, `canary ${e.canary} weight ${e.canaryWeight}% -> ${weight}%`, { from: e.canaryWeight, to: weight });
    });
    await this.deps.kick();
    return store.getEndpoint(e.name)!;
  }

  /**
   * The canary becomes the primary; the old primary drains and stops (resolves once it did). With
   * `registry`, the alias/stage is then set on the promoted version: a refusal is reported, never
   * undone here (the promotion stands).
   */
  async promote(endpoint?: string, registry?: RegistryWriteRequest): Promise<EndpointWithWrite> {
    const { store } = this.deps;
    const e = this.canaryEndpoint(endpoint);
    const oldPrimary = store.getDeployment(e.primary);
    const promoted = store.getDeployment(e.canary!);
    const write = registry ? checkWriteTarget(promoted, registry, 'promote') : undefined;
    store.transaction(() => {
      store.setRouting(e.name, e.canary!, null, 0);
      store.deleteDeployment(e.primary);
      store.addEvent('canary-promoted', e.name, `${e.canary} is now primary; draining ${e.primary}`, { from: e.primary, to: e.canary });
    });
    await this.deps.kick();
    const registryWrite = write ? await writeBack(this.writeDeps(), e.name, promoted!, write, oldPrimary) : undefined;
    await this.deps.whenStopped(e.primary);
    return { ...store.getEndpoint(e.name)!, ...(registryWrite ? { registryWrite } : {}) };
  }

  /** Weight 0 and the canary drains and stops (resolves once it did); `registry` as for promote, on the primary's version. */
  async rollback(endpoint?: string, why = 'mlserve canary rollback', registry?: RegistryWriteRequest): Promise<EndpointWithWrite> {
    const { store } = this.deps;
    const e = this.canaryEndpoint(endpoint);
    const primary = store.getDeployment(e.primary);
    const write = registry ? checkWriteTarget(primary, registry, 'rollback') : undefined;
    store.transaction(() => {
      store.setRouting(e.name, e.primary, null, 0);
      store.deleteDeployment(e.canary!);
      store.addEvent('canary-rolled-back', e.name, `canary ${e.canary} rolled back (${why}); draining it`, { canary: e.canary });
    });
    await this.deps.kick();
    const registryWrite = write ? await writeBack(this.writeDeps(), e.name, primary!, write) : undefined;
    await this.deps.whenStopped(e.canary!);
    return { ...store.getEndpoint(e.name)!, ...(registryWrite ? { registryWrite } : {}) };
  }

  private writeDeps(): WriteBackDeps {
    return { store: this.deps.store, ...(this.deps.writeRegistry ? { write: this.deps.writeRegistry } : {}) };
  }

  /** Mirror `weight` percent of an endpoint's requests to its canary (answers discarded, compared). */
  async setShadow(weight: number, endpoint?: string): Promise<EndpointRow> {
    const { store } = this.deps;
    const e = this.canaryEndpoint(endpoint);
    if (!(weight >= 0 && weight <= 100)) throw new MlserveError('BAD_REQUEST', `shadow share must be 0..100% (got ${weight})`);
    store.transaction(() => {
      store.setShadow(e.name, weight);
      store.addEvent('canary-shadow', e.name, `mirroring ${weight}% of requests to canary ${e.canary}`, { weight });
    });
    this.deps.resetShadow(e.name);
    await this.deps.kick();
    return store.getEndpoint(e.name)!;
  }

  /** Start the automated analysis: walk the steps, check each interval, promote or roll back by itself. */
  async startRollout(raw: unknown, endpoint?: string): Promise<EndpointRow> {
    const { store } = this.deps;
    const e = this.canaryEndpoint(endpoint);
    const policy = validatePolicy(raw);
    if (policy.maxDriftPsi !== undefined && !store.listCapture().some((c) => c.endpoint === e.name)) {
      throw badRequest(`the drift check compares captured requests: turn payload capture on first (mlserve capture on ${e.name} --sample 20%)`);
    }
    const state = initialState(policy, Date.now(), await this.deps.counters(e.canary!));
    store.transaction(() => {
      store.setRollout(e.name, { policy, state });
      store.setRouting(e.name, e.primary, e.canary, policy.steps[0]);
      store.addEvent('rollout-started', e.name, `analysis of ${e.canary}: steps ${policy.steps.join(', ')}% every ${policy.intervalS}s, max error rate ${policy.maxErrorRate * 100}%${policy.maxP99Ms ? `, max p99 ${policy.maxP99Ms} ms` : ''}${policy.maxTtftP99Ms ? `, max TTFT p99 ${policy.maxTtftP99Ms} ms` : ''}${policy.maxDriftPsi ? `, max drift PSI ${policy.maxDriftPsi}` : ''}, min ${policy.minRequests} requests`, { policy });
    });
    await this.deps.kick();
    return store.getEndpoint(e.name)!;
  }
}
