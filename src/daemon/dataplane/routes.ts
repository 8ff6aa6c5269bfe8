// The data plane's routing table: endpoint -> the deployment revisions that serve it (primary,
// canary with its weight, shadow share). The reconcile loop publishes it after every change; the
// ingress reads only this (never the store). Picking a target takes its random draw as an argument.
import { notFound } from '../../errors.js';
import type { Signature } from '../../tensor.js';
import { toCanary } from '../rollout/canary.js';
import type { DispatchOptions, Dispatcher } from './dispatcher.js';
import type { PreparedPipeline } from '../../pipeline/pipeline.js';

/** What the ingress needs of one serving deployment revision. */
export interface ServingTarget {
  readonly name: string;
  readonly endpoint: string;
  readonly version: string;
  /** OIP model metadata platform. */
  readonly platform: string;
  /** Inputs and outputs (null until a replica reported them). */
  readonly spec: Signature | null;
  readonly dispatcher: Dispatcher;
  readyReplicas(): number;
  /** May have no replica and still be ready (autoscaled to zero). */
  readonly mayScaleToZero: boolean;
  dispatchOptions(): DispatchOptions;
  /** Where it stands ('starting', 'ready', 'pending', 'failed', ...) and why it failed (repository index). */
  phase?(): string;
  readonly failed?: string | null;
  /** Pre- and post-processing for /predict, when the deployment declares a pipeline. */
  readonly pipeline?: PreparedPipeline | null;
}

export interface Route {
  endpoint: string;
  primary: ServingTarget | null;
  canary: ServingTarget | null;
  /** Percent of traffic to the canary (0..100). */
  weight: number;
  /** Percent of requests mirrored to the canary (answers discarded). */
  shadow: number;
}

export class RouteTable {
  private routes = new Map<string, Route>();

  /** Replace the whole table (the reconcile loop's view after a pass). */
  publish(routes: Route[]): void {
    this.routes = new Map(routes.map((r) => [r.endpoint, r]));
  }

  get(endpoint: string): Route | undefined {
    return this.routes.get(endpoint);
  }

  list(): Route[] {
    return [...this.routes.values()];
  }

  /**
   * The revision that serves this request: the canary for its share of traffic (by sticky key when
   * given, else by `draw` in [0, 1)) once the canary has a ready replica, else the primary. An
   * unknown endpoint's 404 names the others only when `listOthers` (the caller may see them).
   */
  target(endpoint: string, routeKey: string | undefined, draw: number, listOthers = true): ServingTarget {
    const r = this.routes.get(endpoint);
    if (r) {
      if (r.canary && r.canary.readyReplicas() > 0 && toCanary(r.weight, routeKey, () => draw)) return r.canary;
      if (r.primary) return r.primary;
      if (r.canary) return r.canary;
    }
    const known = [...this.routes.keys()];
    if (!listOthers) throw notFound(`unknown endpoint '${endpoint}'`);
    throw notFound(`unknown endpoint '${endpoint}'${known.length ? `; endpoints: ${known.join(', ')}` : '; nothing is deployed (mlserve deploy <model>)'}`);
  }

  /** Every endpoint's primary has a ready replica (or may scale from zero). */
  allReady(): boolean {
    return this.unready().length === 0;
  }

  /** The endpoints whose primary has no ready replica (and cannot scale from zero), with that primary. */
  unready(): Array<{ endpoint: string; deployment: string | null }> {
    const out: Array<{ endpoint: string; deployment: string | null }> = [];
    for (const r of this.routes.values()) {
      const p = r.primary;
      if (!p || (p.readyReplicas() === 0 && !p.mayScaleToZero)) out.push({ endpoint: r.endpoint, deployment: p?.name ?? null });
    }
    return out;
  }

  /**
   * Server readiness as Triton's --strict-readiness: strict, the server is ready when every
   * endpoint's primary is; not strict, when it is live (answering). Per-model readiness is exact either way.
   */
  serverReady(strict: boolean): boolean {
    return !strict || this.allReady();
  }
}
