// The dispatcher's decisions besides the batch itself (batcher.ts): when a replica has room for one
// more batch, how loaded each replica looks to the router, what happens to a batch whose replica
// died, and whether a new request is admitted. PURE: no I/O, no timers.
import type { ReplicaLoad } from './router.js';

/** What one replica holds right now (kept by its link). */
export interface LinkLoad {
  batches: number;
  requests: number;
}

export interface SlotPolicy {
  /** Batches one replica runs at once. */
  maxConcurrentBatches: number;
  /** Requests one replica holds at once, over all its batches. */
  maxOngoingRequests: number;
}

/**
 * A replica takes another batch while it holds fewer than maxConcurrentBatches + 1 batches (one
 * more than it runs, so the next batch's bytes cross the pipe while the current one computes) and
 * fewer than maxOngoingRequests requests.
 */
export function hasFreeSlot(load: LinkLoad, p: SlotPolicy): boolean {
  return load.batches < p.maxConcurrentBatches + 1 && load.requests < p.maxOngoingRequests;
}

/** The router's view of each replica: its requests in flight, and room for one more when it has a free slot. */
export function routerLoads(loads: readonly LinkLoad[], p: SlotPolicy): ReplicaLoad[] {
  return loads.map((l) => ({ inflight: l.requests, capacity: hasFreeSlot(l, p) ? l.requests + 1 : l.requests }));
}

export interface InFlight {
  /** Already answered (or failed: deadline, client gone). */
  done: boolean;
  /** Already sent once more after a replica died. */
  retried: boolean;
}

/**
 * A replica died with this batch in flight. Inference is idempotent, so each request not yet
 * answered gets one more try on another replica (at the head of the queue); a request that was
 * already retried once fails (503, retry later); answered ones are left alone.
 */
export function afterReplicaLoss<T extends InFlight>(batch: readonly T[]): { retry: T[]; fail: T[] } {
  const retry: T[] = [];
  const fail: T[] = [];
  for (const i of batch) {
    if (i.done) continue;
    (i.retried ? fail : retry).push(i);
  }
  return { retry, fail };
}

/**
 * A replica stopped answering (suspect: a health check or a request timed out on it) with this
 * batch in flight. Each request not yet answered and not yet retried gets one more try elsewhere
 * (at the head of the queue) while it stays on the frozen replica too: whichever answers first
 * wins, and the request's deadline still applies. A request already retried once waits where it is.
 */
export function afterReplicaSuspect<T extends InFlight>(batch: readonly T[]): T[] {
  return batch.filter((i) => !i.done && !i.retried);
}

export type Refusal = { code: 'NOT_READY' | 'OVERLOADED'; message: string };

/**
 * Admit a new request? `closed` is the reason the queue takes no more (undeploy, shutdown);
 * `replica` whether a replica is alive or coming (a cold start may have been asked for).
 */
export function admit(s: { closed: string | null; replica: boolean; queued: number; maxQueued: number }): Refusal | null {
  if (s.closed) return { code: 'NOT_READY', message: s.closed };
  if (!s.replica) return { code: 'NOT_READY', message: 'no replica is ready yet; retry shortly (see mlserve status)' };
  if (s.queued >= s.maxQueued) return { code: 'OVERLOADED', message: `queue full (${s.maxQueued} requests waiting); retry later or add replicas` };
  return null;
}

/**
 * An error made without capturing a stack trace: refusals are answers, not faults, and under a
 * flood of them (load shedding) the capture was a measurable share of the event loop.
 */
export function withoutStack<T>(make: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}
