// PURE: traffic split between an endpoint's primary and its canary. With a sticky key the same
// key always reaches the same version at a given weight, and raising the weight only moves keys
// towards the canary (each key has a fixed point in [0, 100); it goes to the canary when that
// point is below the weight).

/** FNV-1a, 32 bits: a stable hash of a route key. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // Mix the bits so that similar keys spread (murmur3's finalizer).
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** A key's fixed point in [0, 100). */
export function keyPoint(key: string): number {
  return (hashKey(key) % 1_000_000) / 10_000;
}

/** Send this request to the canary? `weight` in percent; `rand` in [0, 1) when there is no key. */
export function toCanary(weight: number, key: string | undefined, rand: () => number): boolean {
  if (weight <= 0) return false;
  if (weight >= 100) return true;
  const point = key !== undefined && key !== '' ? keyPoint(key) : rand() * 100;
  return point < weight;
}

/**
 * Parse a traffic share into a percent 0..100: "10%", "10", "0.5" (half a percent) and "12.5%" alike.
 * A bare number is always a percent, never a fraction; at most two decimals are kept.
 */
export function parseWeight(s: string | number): number {
  const text = String(s).trim();
  const body = text.endsWith('%') ? text.slice(0, -1).trim() : text;
  const n = body === '' ? NaN : Number(body);
  if (!Number.isFinite(n)) throw new Error(`'${s}' is not a weight; use a percent from 0 to 100 such as 10, 10% or 0.5 (the % is optional)`);
  if (n < 0 || n > 100) throw new Error(`weight ${s} is outside 0..100 (a percent: 10 means 10%, 0.5 means half a percent)`);
  return Math.round(n * 100) / 100;
}
