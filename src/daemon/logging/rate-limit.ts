// Rate limiting of the daemon's log lines, so a flood of bad requests cannot fill the disk: the same
// message (by its first line, numbers ignored) at most `perMessage` times a minute, then one
// "(repeated K more times ...)" line when its minute is over; and at most `total` messages a minute
// of any kind, then one line saying how many were dropped. PURE: time is passed in.

export interface RateLimits {
  /** Messages with the same key written per window. */
  perMessage: number;
  /** Messages of any kind written per window. */
  total: number;
  windowMs: number;
}

export const DEFAULT_RATE_LIMITS: RateLimits = { perMessage: 10, total: 300, windowMs: 60_000 };

/** The limits from MLSERVE_LOG_SAME_PER_MINUTE (10) and MLSERVE_LOG_PER_MINUTE (300); 0 turns the log off. */
export function rateLimitsFromEnv(env: Record<string, string | undefined>): RateLimits {
  const read = (name: string, def: number) => {
    const v = env[name];
    if (v === undefined || v === '') return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name}=${v} is not a whole number of messages`);
    return n;
  };
  return { perMessage: read('MLSERVE_LOG_SAME_PER_MINUTE', DEFAULT_RATE_LIMITS.perMessage), total: read('MLSERVE_LOG_PER_MINUTE', DEFAULT_RATE_LIMITS.total), windowMs: 60_000 };
}

/** Keys kept at most (beyond, the total limit still holds). */
const MAX_KEYS = 2000;

/** What makes two messages "the same": the first line, numbers and hex ids folded, at most 160 chars. */
export function messageKey(message: string): string {
  const first = message.split('\n', 1)[0]!.trim();
  return first.replace(/\b[0-9a-f]{8,}\b/gi, '#').replace(/\d+(\.\d+)?/g, '#').slice(0, 160);
}

interface Window {
  start: number;
  written: number;
  dropped: number;
  /** The first line of the message, for the summary. */
  sample: string;
}

export class LineLimiter {
  private readonly keys = new Map<string, Window>();
  private total: Window = { start: -Infinity, written: 0, dropped: 0, sample: '' };

  constructor(private readonly limits: RateLimits = DEFAULT_RATE_LIMITS) {}

  /**
   * A message arrives at `now`: `write` whether to write it, and `before`: summary lines of
   * windows that ended, to write first.
   */
  offer(message: string, now: number): { write: boolean; before: string[] } {
    const before = this.due(now);
    if (now - this.total.start >= this.limits.windowMs) this.total = { start: now, written: 0, dropped: 0, sample: '' };
    const key = messageKey(message);
    let w = this.keys.get(key);
    if (!w) {
      w = { start: now, written: 0, dropped: 0, sample: message.split('\n', 1)[0]!.trim().slice(0, 200) };
      if (this.keys.size < MAX_KEYS) this.keys.set(key, w);
    }
    if (w.written >= this.limits.perMessage) {
      w.dropped++;
      return { write: false, before };
    }
    if (this.total.written >= this.limits.total) {
      this.total.dropped++;
      return { write: false, before };
    }
    w.written++;
    this.total.written++;
    return { write: true, before };
  }

  /** Summary lines for every window over by `now` (call it now and then, so a flood that stopped is reported). */
  due(now: number): string[] {
    const out: string[] = [];
    const min = Math.round(this.limits.windowMs / 1000);
    for (const [key, w] of this.keys) {
      if (now - w.start < this.limits.windowMs) continue;
      if (w.dropped > 0) out.push(`${w.sample} (repeated ${w.dropped} more time${w.dropped === 1 ? '' : 's'} in ${min} s; at most ${this.limits.perMessage} of a message are written per ${min} s)`);
      this.keys.delete(key);
    }
    if (now - this.total.start >= this.limits.windowMs && this.total.dropped > 0) {
      out.push(`(${this.total.dropped} more log message${this.total.dropped === 1 ? '' : 's'} dropped in ${min} s: at most ${this.limits.total} are written per ${min} s)`);
      this.total = { ...this.total, dropped: 0 };
    }
    return out;
  }

  /** Every pending summary, windows over or not (at a clean stop). */
  flush(): string[] {
    return this.due(Infinity);
  }
}
