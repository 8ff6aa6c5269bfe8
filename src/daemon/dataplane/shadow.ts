// Shadow traffic: a share of an endpoint's requests is also sent to its canary; the canary's
// answers are never returned, only compared with the primary's (max abs difference per output),
// so a version can be judged on live inputs before it takes traffic.
import type { Tensor, TensorData } from '../../tensor.js';
import type { Route, ServingTarget } from './routes.js';

export interface ShadowStats {
  mirrored: number;
  errors: number;
  /** Mirrored requests whose outputs differ from the primary's by more than the tolerance. */
  differing: number;
  /** Largest absolute difference seen per output. */
  maxAbsDiff: Record<string, number>;
}

export const emptyShadowStats = (): ShadowStats => ({ mirrored: 0, errors: 0, differing: 0, maxAbsDiff: {} });

/** PURE: the largest absolute difference between two outputs (Infinity when shapes or types differ). */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  if (a.datatype !== b.datatype || a.shape.join() !== b.shape.join()) return Infinity;
  const x = a.data as TensorData;
  const y = b.data as TensorData;
  if (Array.isArray(x) || Array.isArray(y)) return (x as string[]).every((v, i) => v === (y as string[])[i]) ? 0 : Infinity;
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(Number(x[i]) - Number(y[i]));
    if (d > m || Number.isNaN(d)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** PURE: fold one comparison into the stats. */
export function recordShadow(stats: ShadowStats, primary: Tensor[], canary: Tensor[] | null, tolerance = 1e-5): ShadowStats {
  const next: ShadowStats = { ...stats, mirrored: stats.mirrored + 1, maxAbsDiff: { ...stats.maxAbsDiff } };
  if (!canary) {
    next.errors++;
    return next;
  }
  let differs = false;
  for (const p of primary) {
    const c = canary.find((t) => t.name === p.name);
    const d = c ? maxAbsDiff(p, c) : Infinity;
    next.maxAbsDiff[p.name] = Math.max(next.maxAbsDiff[p.name] ?? 0, d);
    if (d > tolerance) differs = true;
  }
  if (differs) next.differing++;
  return next;
}

/**
 * Mirrors a share of each endpoint's requests to its canary after the primary answered, off the
 * request path, and keeps the comparison per endpoint. The share is drawn with `rand`.
 */
export class ShadowMirror {
  private readonly stats = new Map<string, ShadowStats>();

  constructor(private readonly rand: () => number = Math.random) {}

  get(endpoint: string): ShadowStats | undefined {
    return this.stats.get(endpoint);
  }

  reset(endpoint: string): void {
    this.stats.set(endpoint, emptyShadowStats());
  }

  /** After `served` answered on this route: maybe send the same inputs to the canary and compare. */
  mirror(route: Route | undefined, served: ServingTarget, inputs: Tensor[], outputs: string[] | undefined, answer: Tensor[]): void {
    if (!route?.canary || !(route.shadow > 0) || served !== route.primary) return;
    if (this.rand() * 100 >= route.shadow) return;
    const canary = route.canary;
    if (canary.readyReplicas() === 0) return;
    const endpoint = route.endpoint;
    const fold = (got: Tensor[] | null) => this.stats.set(endpoint, recordShadow(this.stats.get(endpoint) ?? emptyShadowStats(), answer, got));
    canary.dispatcher.submit(inputs, outputs).then((r) => fold(r.outputs), () => fold(null));
  }
}
