// Fractional GPU placement, Ray style: a replica asks for a fraction of one GPU (< 1) or for whole
// GPUs (1, 2, ...). Fractions are bin-packed best fit so partly used GPUs fill up before empty ones
// are touched; whole GPUs must be completely free. Shares are counted in integer hundredths, so
// three replicas of 0.33 fit on one GPU (0.99) and float error never decides a placement.
// Pure: the inventory and the existing allocations come in, a decision goes out.
import { MlserveError } from '../../errors.js';
import type { Gpu } from './gpus.js';

export interface GpuShare {
  index: number;
  uuid: string;
  /** < 1 on a single GPU, or 1 on each of several whole GPUs. */
  fraction: number;
}

/** One replica's share of the machine's GPUs. */
export interface Assignment {
  gpus: GpuShare[];
}

export interface Allocation {
  /** e.g. 'dep/0' */
  replica: string;
  assignment: Assignment;
}

export type PlaceResult = { ok: true; assignment: Assignment } | { ok: false; reason: string };

export interface PlacementRequest {
  replica: string;
  gpus: number;
}

export interface PendingPlacement extends PlacementRequest {
  reason: string;
}

export interface GpuShareView {
  index: number;
  uuid: string;
  name: string;
  /** Sum of the shares allocated on this GPU (can exceed 1 if the inventory shrank). */
  allocated: number;
  /** 1 - allocated, never below 0. */
  free: number;
  replicas: string[];
}

export const NO_GPUS_REASON = 'no GPUs on this machine (set MLSERVE_GPUS to simulate some)';

/**
 * A GPU request as Ray-style shares: fractions are rounded to two decimals (0.333 -> 0.33, so three
 * fit on one GPU); more than one GPU must be a whole number. Throws BAD_REQUEST otherwise.
 */
export function normalizeFraction(f: number): number {
  if (typeof f !== 'number' || !Number.isFinite(f) || f <= 0) {
    throw new MlserveError('BAD_REQUEST', `a GPU share must be a number above 0, such as 0.25, 0.5 or 1 (got ${f})`);
  }
  if (f > 1) {
    if (!Number.isInteger(f)) {
      throw new MlserveError(
        'BAD_REQUEST',
        `a GPU share above 1 must be a whole number of GPUs (got ${f}): ask for a fraction of one GPU (below 1) or for 1, 2, 3 ... whole GPUs`,
      );
    }
    return f;
  }
  const h = Math.round(f * 100);
  if (h < 1) throw new MlserveError('BAD_REQUEST', `a GPU share must be at least 0.01 (got ${f})`);
  return h / 100;
}

const hundredths = (f: number) => Math.round(f * 100);
const fmt = (h: number) => (h / 100).toFixed(2);

/** Allocated hundredths per GPU uuid, and the replicas on each. Allocations on GPUs no longer in the inventory are ignored. */
function usage(inventory: Gpu[], existing: Allocation[]): Map<string, { used: number; replicas: string[] }> {
  const m = new Map<string, { used: number; replicas: string[] }>();
  for (const g of inventory) m.set(g.uuid, { used: 0, replicas: [] });
  for (const a of existing) {
    for (const s of a.assignment.gpus) {
      const u = m.get(s.uuid);
      if (!u) continue;
      u.used += hundredths(s.fraction);
      if (!u.replicas.includes(a.replica)) u.replicas.push(a.replica);
    }
  }
  return m;
}

const byIndex = (inventory: Gpu[]) => [...inventory].sort((a, b) => a.index - b.index);

/**
 * Places one replica asking for `request` GPUs. A fraction goes best fit: onto the GPU with the
 * smallest free share that still holds it (ties: lowest index). A whole number N takes the N
 * completely free GPUs with the lowest indices. When nothing fits, `reason` says what is free.
 * Throws BAD_REQUEST for a request `normalizeFraction` rejects.
 */
export function place(request: number, inventory: Gpu[], existing: Allocation[]): PlaceResult {
  const want = normalizeFraction(request);
  if (inventory.length === 0) return { ok: false, reason: NO_GPUS_REASON };
  const use = usage(inventory, existing);
  const gpus = byIndex(inventory);
  const free = (g: Gpu) => Math.max(0, 100 - use.get(g.uuid)!.used);

  if (want < 1) {
    const need = hundredths(want);
    let best: Gpu | undefined;
    for (const g of gpus) {
      const f = free(g);
      if (f >= need && (best === undefined || f < free(best))) best = g;
    }
    if (best) return { ok: true, assignment: { gpus: [{ index: best.index, uuid: best.uuid, fraction: want }] } };
    // "GPU 0 has 0.34 free, GPU 1 0.10"
    const list = gpus.map((g, i) => (i === 0 ? `GPU ${g.index} has ${fmt(free(g))} free` : `GPU ${g.index} ${fmt(free(g))}`));
    return { ok: false, reason: `needs ${want} of a GPU; ${list.join(', ')}` };
  }

  const whole = gpus.filter((g) => use.get(g.uuid)!.used === 0);
  const plural = want === 1 ? 'GPU' : 'GPUs';
  if (whole.length >= want) {
    return {
      ok: true,
      assignment: { gpus: whole.slice(0, want).map((g) => ({ index: g.index, uuid: g.uuid, fraction: 1 })) },
    };
  }
  if (want > gpus.length) {
    return { ok: false, reason: `needs ${want} whole ${plural}; this machine has ${gpus.length}` };
  }
  const names = whole.map((g) => `GPU ${g.index}`).join(', ');
  const freeText = whole.length === 0 ? 'none is free' : `${whole.length} ${whole.length === 1 ? 'is' : 'are'} free (${names})`;
  return { ok: false, reason: `needs ${want} whole ${plural}; ${freeText}` };
}

/**
 * Places replicas in order, each seeing the ones placed before it. One that does not fit goes to
 * `pending` with its reason and does not block later ones (a smaller request may still fit).
 * Used to place a deployment's replicas and to retry pending replicas when room appears.
 */
export function placeAll(
  requests: PlacementRequest[],
  inventory: Gpu[],
  existing: Allocation[],
): { placed: Allocation[]; pending: PendingPlacement[] } {
  const placed: Allocation[] = [];
  const pending: PendingPlacement[] = [];
  const current = [...existing];
  for (const r of requests) {
    const res = place(r.gpus, inventory, current);
    if (res.ok) {
      const a = { replica: r.replica, assignment: res.assignment };
      placed.push(a);
      current.push(a);
    } else {
      pending.push({ replica: r.replica, gpus: r.gpus, reason: res.reason });
    }
  }
  return { placed, pending };
}

/** Per GPU (by index): allocated and free shares and the replicas on it, for display. */
export function freeShares(inventory: Gpu[], existing: Allocation[]): GpuShareView[] {
  const use = usage(inventory, existing);
  return byIndex(inventory).map((g) => {
    const u = use.get(g.uuid)!;
    return {
      index: g.index,
      uuid: g.uuid,
      name: g.name,
      allocated: u.used / 100,
      free: Math.max(0, 100 - u.used) / 100,
      replicas: u.replicas,
    };
  });
}

/** How many more replicas asking for `request` GPUs each would fit now (the autoscaler's `gpuRoom`). */
export function roomFor(request: number, inventory: Gpu[], existing: Allocation[], limit = 1024): number {
  const current = [...existing];
  let n = 0;
  while (n < limit) {
    const res = place(request, inventory, current);
    if (!res.ok) break;
    current.push({ replica: `room/${n}`, assignment: res.assignment });
    n++;
  }
  return n;
}
