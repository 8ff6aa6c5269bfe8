// The log's rate limits (logging/rate-limit.ts), PURE: the same message at most `perMessage` times a
// window then one "(repeated K more times)" line, at most `total` messages a window of any kind.
import { describe, expect, it } from 'vitest';
import { LineLimiter, messageKey, rateLimitsFromEnv } from '../../../src/daemon/logging/rate-limit.js';

const limits = { perMessage: 3, total: 10, windowMs: 60_000 };

/** Offer each [message, time] in turn; returns what would be written, in order. */
function run(l: LineLimiter, msgs: Array<[string, number]>): string[] {
  const out: string[] = [];
  for (const [m, t] of msgs) {
    const { write, before } = l.offer(m, t);
    out.push(...before);
    if (write) out.push(m);
  }
  return out;
}

describe('messageKey', () => {
  it.each([
    ['numbers are folded', 'replica 3 failed after 120 ms', 'replica # failed after # ms'],
    ['only the first line counts (a stack trace)', 'ingress: boom\n    at a (x.js:1:2)', 'ingress: boom'],
    ['hex ids are folded', 'request 9f86d081884c7d65 failed', 'request # failed'],
    ['decimals fold whole', 'took 1.25 s', 'took # s'],
  ])('%s', (_n, msg, key) => {
    expect(messageKey(msg)).toBe(key);
  });

  it('is at most 160 characters', () => {
    expect(messageKey('x'.repeat(1000))).toHaveLength(160);
  });
});

describe('LineLimiter', () => {
  it('writes the same message perMessage times a window, then one line saying how many more came', () => {
    const l = new LineLimiter(limits);
    const msgs: Array<[string, number]> = Array.from({ length: 50 }, (_, i) => [`ingress: POST /x: the model failed (request ${i})\n    at y`, i * 100]);
    const out = run(l, msgs);
    expect(out).toHaveLength(3);
    // The window ends: the next message first reports the 47 that were not written.
    expect(run(l, [['ingress: POST /x: the model failed (request 51)', 60_000]])).toEqual([
      'ingress: POST /x: the model failed (request 0) (repeated 47 more times in 60 s; at most 3 of a message are written per 60 s)',
      'ingress: POST /x: the model failed (request 51)',
    ]);
  });

  it('keeps each message to its own count', () => {
    const l = new LineLimiter(limits);
    const out = run(l, [['a', 0], ['a', 1], ['b', 2], ['a', 3], ['a', 4], ['b', 5]]);
    expect(out).toEqual(['a', 'a', 'b', 'a', 'b']);
  });

  it('writes at most `total` messages a window of any kind, then says how many were dropped', () => {
    const l = new LineLimiter(limits);
    const out = run(l, Array.from({ length: 25 }, (_, i) => [`distinct message ${String.fromCharCode(97 + i)}`, i] as [string, number]));
    expect(out).toHaveLength(10);
    expect(l.due(60_000)).toEqual(['(15 more log messages dropped in 60 s: at most 10 are written per 60 s)']);
    expect(l.due(120_000)).toEqual([]);
  });

  it('a flood that stopped is reported by due() once its window is over, not before', () => {
    const l = new LineLimiter(limits);
    run(l, Array.from({ length: 5 }, (_, i) => ['same', i] as [string, number]));
    expect(l.due(59_999)).toEqual([]);
    expect(l.due(60_000)).toEqual(['same (repeated 2 more times in 60 s; at most 3 of a message are written per 60 s)']);
    expect(l.due(200_000)).toEqual([]);
  });

  it('flush() reports every pending count at once (a clean stop)', () => {
    const l = new LineLimiter(limits);
    run(l, Array.from({ length: 4 }, (_, i) => ['same', i] as [string, number]));
    expect(l.flush()).toEqual(['same (repeated 1 more time in 60 s; at most 3 of a message are written per 60 s)']);
    expect(l.flush()).toEqual([]);
  });

  it('a quiet message is written again in a new window', () => {
    const l = new LineLimiter(limits);
    expect(run(l, [['a', 0], ['a', 1], ['a', 2], ['a', 3], ['a', 70_000]])).toEqual(['a', 'a', 'a', 'a (repeated 1 more time in 60 s; at most 3 of a message are written per 60 s)', 'a']);
  });
});

describe('rateLimitsFromEnv', () => {
  it.each([
    ['defaults', {}, { perMessage: 10, total: 300, windowMs: 60_000 }],
    ['both set', { MLSERVE_LOG_SAME_PER_MINUTE: '2', MLSERVE_LOG_PER_MINUTE: '50' }, { perMessage: 2, total: 50, windowMs: 60_000 }],
    ['empty is the default', { MLSERVE_LOG_PER_MINUTE: '' }, { perMessage: 10, total: 300, windowMs: 60_000 }],
  ])('%s', (_n, env, want) => {
    expect(rateLimitsFromEnv(env)).toEqual(want);
  });

  it('refuses what is not a whole number', () => {
    expect(() => rateLimitsFromEnv({ MLSERVE_LOG_PER_MINUTE: 'lots' })).toThrow('MLSERVE_LOG_PER_MINUTE=lots is not a whole number of messages');
    expect(() => rateLimitsFromEnv({ MLSERVE_LOG_SAME_PER_MINUTE: '-1' })).toThrow('MLSERVE_LOG_SAME_PER_MINUTE=-1');
  });
});
