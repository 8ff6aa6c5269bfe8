// The daemon's GPU book: which replica holds which share of which GPU. Decisions come from the
// pure allocator; this keeps the allocations and turns one into a replica's environment.
import { freeShares, normalizeFraction, place, roomFor, type Allocation, type Assignment } from './allocator.js';
import { replicaGpuEnv } from './gpu-env.js';
import { roomHolders } from './gpu-fit.js';
import type { Inventory } from './gpu-inventory.js';

export type Reservation =
  | { ok: true; assignment: Assignment; env: Record<string, string>; providers?: string[] }
  | { ok: false; reason: string };

export class GpuBook {
  private readonly allocations = new Map<string, Allocation>();

  constructor(readonly inventory: Inventory) {}

  private existing(except?: string): Allocation[] {
    return [...this.allocations.values()].filter((a) => a.replica !== except);
  }

  /** Reserve `gpus` for replica `key` (e.g. 'dep/0'), preferring its previous assignment. */
  reserve(key: string, gpus: number, prior?: Assignment | null): Reservation {
    const request = normalizeFraction(gpus);
    let assignment: Assignment | undefined;
    if (prior && this.fitsAgain(key, prior)) assignment = prior;
    else {
      const r = place(request, this.inventory.gpus, this.existing(key));
      if (!r.ok) return { ok: false, reason: `${r.reason}; ${roomHolders(this.existing(key), this.inventory.gpus)}` };
      assignment = r.assignment;
    }
    this.allocations.set(key, { replica: key, assignment });
    const { simulated } = this.inventory;
    // A simulated inventory runs replicas on CPU: placement and accounting are real, devices are not.
    const env = simulated
      ? { MLSERVE_SIMULATED_GPUS: assignment.gpus.map((g) => `${g.uuid}:${g.fraction}`).join(',') }
      : replicaGpuEnv(assignment, this.inventory.gpus, { mps: this.inventory.mps });
    return { ok: true, assignment, env, providers: simulated ? undefined : ['cuda', 'cpu'] };
  }

  /** Can `prior` be taken again as it was (same GPUs, enough free)? */
  private fitsAgain(key: string, prior: Assignment): boolean {
    const shares = freeShares(this.inventory.gpus, this.existing(key));
    return prior.gpus.every((g) => {
      const s = shares.find((x) => x.uuid === g.uuid);
      return s !== undefined && s.free + 1e-9 >= g.fraction;
    });
  }

  release(key: string): void {
    this.allocations.delete(key);
  }

  /** How many more replicas of `gpus` each would fit now. */
  room(gpus: number): number {
    return roomFor(normalizeFraction(gpus), this.inventory.gpus, this.existing());
  }

  shares() {
    return freeShares(this.inventory.gpus, this.existing());
  }
}
