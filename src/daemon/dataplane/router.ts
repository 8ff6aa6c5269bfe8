// PURE routing decisions for the data plane.

export interface ReplicaLoad {
  /** Requests (or batches) in flight on this replica. */
  inflight: number;
  /** How many it may hold at once (max_ongoing_requests / max_concurrent_batches). */
  capacity: number;
}

/**
 * Power of two choices: among replicas with a free slot, draw two at random and take the less
 * loaded (ties go to the first draw). Returns the index, or -1 when every replica is full.
 * `rand` returns a float in [0, 1).
 */
export function pickReplica(replicas: readonly ReplicaLoad[], rand: () => number): number {
  const free: number[] = [];
  for (let i = 0; i < replicas.length; i++) if (replicas[i].inflight < replicas[i].capacity) free.push(i);
  if (free.length === 0) return -1;
  if (free.length === 1) return free[0];
  const a = Math.floor(rand() * free.length);
  let b = Math.floor(rand() * (free.length - 1));
  if (b >= a) b++;
  const ia = free[a];
  const ib = free[b];
  return replicas[ib].inflight < replicas[ia].inflight ? ib : ia;
}
