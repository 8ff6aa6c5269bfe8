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

/** Parse "10%", "10", "0.1" (a fraction when below 1 and written with a dot) into a percent 0..100. */
export function parseWeight(s: string | number): number {
  const text = String(s).trim();
  const pct = text.endsWith('%');
  const n = Number(pct ? text.slice(0, -1) : text);
  if (!Number.isFinite(n)) throw new Error(`'${s}' is not a weight; use a percent such as 10% or 25, or a fraction such as 0.1`);
  const v = !pct && n > 0 && n < 1 && text.includes('.') ? n * 100 : n;
  if (v < 0 || v > 100) throw new Error(`weight ${s} is outside 0..100%`);
  return Math.round(v * 100) / 100;
}
