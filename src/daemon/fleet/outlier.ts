// Outlier detection for one replica, as Envoy's and Triton's: a replica that lets ONE health check
// time out, or holds ONE request past its deadline without a word, is `suspect` at once (no new
// batches go to it) while its health checks go on; an answer to a health check returns it to
// service, and `misses` health checks missed in a row replace it. PURE: no I/O, no timers.

/** What was just seen of a replica. */
export type Signal =
  /** A health check answered. */
  | { kind: 'pong' }
  /** A health check got no answer within the health-check timeout. */
  | { kind: 'ping-timeout' }
  /**
   * A request sent to it passed its deadline unanswered. `silentMs`: how long the replica has said
   * nothing (no result, no pong) since that request was sent; `budgetMs`: the request timeout.
   */
  | { kind: 'request-timeout'; silentMs: number; budgetMs: number };

export interface OutlierState {
  state: 'ready' | 'suspect';
  /** Health checks missed in a row. */
  misses: number;
}

export interface OutlierPolicy {
  /** Misses in a row that replace the replica (health_check misses, default 3). */
  misses: number;
  healthTimeoutMs: number;
}

export type OutlierAction =
  /** Nothing changes (misses may have). */
  | 'none'
  /** Take it out of routing: no new batches; its requests in flight may be tried elsewhere. */
  | 'suspect'
  /** It answered again: back in routing. */
  | 'restore'
  /** Declared dead: kill it (its exit restarts it; requests on it are retried elsewhere). */
  | 'replace';

export interface Verdict extends OutlierState {
  action: OutlierAction;
}

/**
 * How long a replica may stay silent with a request past its deadline before it counts as frozen:
 * half the request timeout or one health-check timeout, whichever is shorter. A replica that
 * answers other batches or pings meanwhile is slow or overloaded, not frozen; one that held a
 * request for half its time budget (the rest went in the queue) without a word is.
 */
export function silenceLimitMs(healthTimeoutMs: number, budgetMs: number): number {
  return Math.min(healthTimeoutMs, budgetMs / 2);
}

/** The next state of one replica after `signal`, and what to do about it. */
export function judge(cur: OutlierState, signal: Signal, p: OutlierPolicy): Verdict {
  switch (signal.kind) {
    case 'pong':
      return { state: 'ready', misses: 0, action: cur.state === 'suspect' ? 'restore' : 'none' };
    case 'ping-timeout': {
      const misses = cur.misses + 1;
      // Exactly at the limit: a check that times out after the replacement was asked for asks nothing more.
      if (misses === Math.max(1, p.misses)) return { state: 'suspect', misses, action: 'replace' };
      return { state: 'suspect', misses, action: cur.state === 'ready' ? 'suspect' : 'none' };
    }
    case 'request-timeout': {
      if (cur.state === 'suspect') return { ...cur, action: 'none' };
      const frozen = signal.silentMs >= silenceLimitMs(p.healthTimeoutMs, signal.budgetMs);
      return frozen ? { state: 'suspect', misses: cur.misses, action: 'suspect' } : { ...cur, action: 'none' };
    }
  }
}
