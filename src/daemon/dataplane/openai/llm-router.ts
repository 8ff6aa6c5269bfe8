// PURE: which replica serves an LLM request.
//
//   1. Affinity first. A session key (x-mlserve-route-key, else the request's `user`) names its
//      replica by rendezvous hashing over the ready replicas (stable: a replica joining or leaving
//      moves only its own keys). Without one, the prompt's prefix does: the replica that last
//      served the longest prefix of this prompt (in blocks of BLOCK_CHARS characters, hashed as a
//      chain, see prefixBlocks and prefix-index.ts) holds that prefix in its KV cache.
//   2. Bounded load. The affine replica is taken only while it has a free slot and holds at most
//      `maxImbalance` more requests than the least loaded replica with a free slot (consistent
//      hashing with bounded loads; Ray Serve LLM's prefix-aware router uses the same guard).
//   3. Otherwise the least outstanding requests: the free replica holding the fewest, ties at random.
//   No replica has a free slot: null (the request waits in the queue).

export interface LlmReplicaLoad {
  /** The replica's index (stable across restarts of the process). */
  id: number;
  /** Requests it holds now. */
  inflight: number;
  /** Requests it may hold at once (its slots). */
  capacity: number;
}

export interface Affinity {
  id: number;
  why: 'session' | 'prefix';
}

export interface LlmRoute {
  /** Index into the replicas given. */
  index: number;
  reason: 'session' | 'prefix' | 'least-loaded';
}

/** Characters per prefix block (about 16 tokens of English). */
export const BLOCK_CHARS = 64;
/** Blocks of a prompt that count (the first 2048 characters). */
export const MAX_BLOCKS = 32;

/** FNV-1a, 32 bits, continuing from `h`. */
export function fnv1a(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The chained hashes of a prompt's whole blocks: hash i covers characters [0, (i+1) * blockChars).
 * A prompt shorter than one block has none (it gets no prefix affinity: too little to reuse).
 */
export function prefixBlocks(text: string, blockChars = BLOCK_CHARS, maxBlocks = MAX_BLOCKS): number[] {
  const out: number[] = [];
  let h = 0x811c9dc5;
  for (let i = 0; i < maxBlocks && (i + 1) * blockChars <= text.length; i++) {
    h = fnv1a(text.slice(i * blockChars, (i + 1) * blockChars), h);
    out.push(h);
  }
  return out;
}

/** Rendezvous (highest random weight) hashing: the id whose hash with `key` is highest. */
export function rendezvous(key: string, ids: readonly number[]): number | undefined {
  let best: number | undefined;
  let bestScore = -1;
  const base = fnv1a(key);
  for (const id of ids) {
    // Mix the id in and finish with a 32-bit avalanche (murmur3's fmix) so close ids score far apart.
    let h = fnv1a(`#${id}`, base);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    const score = h >>> 0;
    if (score > bestScore || (score === bestScore && best !== undefined && id < best)) {
      best = id;
      bestScore = score;
    }
  }
  return best;
}

/** The text whose prefix decides affinity: the prompt, or the chat's messages in order. */
export function routingText(req: { kind: 'chat' | 'completion'; prompt?: string; messages?: ReadonlyArray<{ role: string; content: string }> }): string {
  if (req.kind === 'completion') return req.prompt ?? '';
  let s = '';
  for (const m of req.messages ?? []) {
    s += `${m.role}\u0000${m.content}\u0000`;
    if (s.length >= BLOCK_CHARS * MAX_BLOCKS) break;
  }
  return s;
}

/**
 * Pick a replica for one request. `affinity` lists the preferred replicas, best first; `rand` is a
 * float in [0, 1) for ties.
 */
export function routeLlm(replicas: readonly LlmReplicaLoad[], affinity: readonly Affinity[], maxImbalance: number, rand: () => number): LlmRoute | null {
  let min = Infinity;
  for (const r of replicas) if (r.inflight < r.capacity && r.inflight < min) min = r.inflight;
  if (min === Infinity) return null;
  for (const a of affinity) {
    const index = replicas.findIndex((r) => r.id === a.id);
    if (index < 0) continue;
    const r = replicas[index];
    if (r.inflight < r.capacity && r.inflight - min <= maxImbalance) return { index, reason: a.why };
  }
  const least: number[] = [];
  replicas.forEach((r, i) => {
    if (r.inflight === min && r.inflight < r.capacity) least.push(i);
  });
  return { index: least[Math.min(least.length - 1, Math.floor(rand() * least.length))], reason: 'least-loaded' };
}

/** The default bound: half a replica's slots, at least 1. */
export const defaultImbalance = (capacity: number): number => Math.max(1, Math.floor(capacity / 2));
