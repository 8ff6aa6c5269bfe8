// Two-sample statistics of the drift report (PURE): Wasserstein-1, chi-squared goodness of fit,
// the population stability index and Jensen-Shannon distance on evidently's bins, the two-proportion
// z-test, missing and out-of-range rates. Each one is written to give the figure of its reference
// implementation (named on each function); test/unit/monitor/drift-vs-python.test.ts compares them.
import { chi2Sf, normSf } from './special.js';

/** Ascending copy (numbers only; NaN must be removed first). */
export const sorted = (xs: readonly number[]): number[] => Float64Array.from(xs).sort() as unknown as number[];

/** Count of values <= x in ascending `s` (numpy searchsorted side='right'). */
export function countLe(s: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (s[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first-Wasserstein distance of two samples: scipy.stats.wasserstein_distance(u, v), unweighted. */
export function wasserstein(u: readonly number[], v: readonly number[]): number {
  if (u.length === 0 || v.length === 0) return Number.NaN;
  const us = sorted(u);
  const vs = sorted(v);
  const all = sorted([...us, ...vs]);
  let sum = 0;
  for (let i = 0; i + 1 < all.length; i++) {
    const delta = all[i + 1]! - all[i]!;
    if (delta === 0) continue;
    const x = all[i]!;
    sum += Math.abs(countLe(us, x) / us.length - countLe(vs, x) / vs.length) * delta;
  }
  return sum;
}

/** Population standard deviation (numpy's np.std, ddof=0). */
export function std(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  let mean = 0;
  for (const x of xs) mean += x;
  mean /= xs.length;
  let ss = 0;
  for (const x of xs) ss += (x - mean) ** 2;
  return Math.sqrt(ss / xs.length);
}

/**
 * Wasserstein distance divided by the reference's standard deviation (at least 0.001): evidently's
 * `wasserstein` stattest ("Wasserstein distance (normed)").
 */
export const wassersteinNormed = (ref: readonly number[], cur: readonly number[]): number => wasserstein(ref, cur) / Math.max(std(ref), 0.001);

export interface ChiSquare {
  statistic: number;
  pValue: number;
  df: number;
}

/**
 * Pearson's chi-squared test of observed counts against expected counts: scipy.stats.chisquare(f_obs,
 * f_exp) (df = k - 1). An expected count of 0 with an observed count above 0 gives an infinite
 * statistic and p = 0 (a category the reference never had).
 */
export function chiSquare(observed: readonly number[], expected: readonly number[]): ChiSquare {
  let statistic = 0;
  for (let i = 0; i < observed.length; i++) {
    const o = observed[i]!;
    const e = expected[i]!;
    if (e === 0) statistic += o === 0 ? 0 : Number.POSITIVE_INFINITY;
    else statistic += (o - e) ** 2 / e;
  }
  const df = observed.length - 1;
  const pValue = df <= 0 ? Number.NaN : statistic === Number.POSITIVE_INFINITY ? 0 : chi2Sf(statistic, df);
  return { statistic, pValue, df };
}

/** Category keys of both samples in first-seen order (reference first), and each sample's counts. */
export function categoryCounts(ref: readonly string[], cur: readonly string[]): { keys: string[]; ref: number[]; cur: number[] } {
  const index = new Map<string, number>();
  for (const v of [...ref, ...cur]) if (!index.has(v)) index.set(v, index.size);
  const r = new Array<number>(index.size).fill(0);
  const c = new Array<number>(index.size).fill(0);
  for (const v of ref) r[index.get(v)!]! += 1;
  for (const v of cur) c[index.get(v)!]! += 1;
  return { keys: [...index.keys()], ref: r, cur: c };
}

/**
 * evidently's `chisquare` stattest: current counts per category against the reference counts scaled
 * to the current sample size, over the categories of both samples.
 */
export function chiSquareCategories(ref: readonly string[], cur: readonly string[]): ChiSquare {
  const { ref: r, cur: c } = categoryCounts(ref, cur);
  const k = cur.length / ref.length;
  return chiSquare(c, r.map((x) => x * k));
}

/**
 * The shares per bin of both samples, as evidently's get_binned_data: a numeric column with more
 * than 20 distinct reference values gets Sturges' equal-width bins over the range of both samples
 * (numpy's histogram_bin_edges(bins='sturges'): ceil(log2(n1 + n2) + 1) bins), anything else one
 * bin per value. With `fillZeroes`, an empty bin's share becomes 0.0001, or a millionth of the
 * smallest non-zero share when that is <= 0.0001.
 */
export function binnedShares(
  ref: readonly (number | string)[],
  cur: readonly (number | string)[],
  numeric: boolean,
  fillZeroes: boolean,
): { ref: number[]; cur: number[]; edges: number[] | null } {
  let r: number[];
  let c: number[];
  let edges: number[] | null = null;
  if (numeric && new Set(ref).size > 20) {
    const all = [...(ref as number[]), ...(cur as number[])];
    edges = histogramEdges(all, sturgesBins(all));
    r = histogram(ref as number[], edges).map((n) => n / ref.length);
    c = histogram(cur as number[], edges).map((n) => n / cur.length);
  } else {
    const counts = categoryCounts(ref.map(String), cur.map(String));
    r = counts.ref.map((n) => n / ref.length);
    c = counts.cur.map((n) => n / cur.length);
  }
  if (fillZeroes) {
    r = fillZeros(r);
    c = fillZeros(c);
  }
  return { ref: r, cur: c, edges };
}

function fillZeros(p: number[]): number[] {
  const nz = p.filter((x) => x !== 0);
  if (nz.length === 0) return p;
  const min = Math.min(...nz);
  const fill = min <= 0.0001 ? min / 1e6 : 0.0001;
  return p.map((x) => (x === 0 ? fill : x));
}

/** The number of bins numpy's 'sturges' rule gives: ceil(ptp / (ptp / (log2(n) + 1))), 1 when constant. */
export function sturgesBins(values: readonly number[]): number {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const ptp = hi - lo;
  if (!(ptp > 0)) return 1;
  return Math.ceil(ptp / (ptp / (Math.log2(values.length) + 1)));
}

/** numpy.histogram_bin_edges(values, bins=n): n equal-width bins over [min, max] (±0.5 when constant). */
export function histogramEdges(values: readonly number[], n: number): number[] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  // numpy: np.linspace(first, last, n + 1)
  const step = (hi - lo) / n;
  return Array.from({ length: n + 1 }, (_, i) => (i === n ? hi : lo + i * step));
}

/** numpy.histogram(values, edges)[0]: half-open bins, the last one closed; values outside are dropped. */
export function histogram(values: readonly number[], edges: readonly number[]): number[] {
  const n = edges.length - 1;
  const out = new Array<number>(n).fill(0);
  const lo = edges[0]!;
  const hi = edges[n]!;
  for (const v of values) {
    if (!(v >= lo && v <= hi)) continue;
    // numpy computes the bin from the width and then corrects it against the edges.
    let i = Math.floor(((v - lo) / (hi - lo)) * n);
    if (i >= n) i = n - 1;
    while (i > 0 && v < edges[i]!) i--;
    while (i < n - 1 && v >= edges[i + 1]!) i++;
    out[i]! += 1;
  }
  return out;
}

/**
 * The population stability index: sum of (ref - cur) · ln(ref / cur) over evidently's bins with
 * zeroes filled (evidently's `psi` stattest).
 */
export function psi(ref: readonly (number | string)[], cur: readonly (number | string)[], numeric: boolean): number {
  const b = binnedShares(ref, cur, numeric, true);
  let s = 0;
  for (let i = 0; i < b.ref.length; i++) s += (b.ref[i]! - b.cur[i]!) * Math.log(b.ref[i]! / b.cur[i]!);
  return s;
}

/** scipy.spatial.distance.jensenshannon(p, q) (natural log): both normalized to sum 1 first. */
export function jensenShannon(p: readonly number[], q: readonly number[]): number {
  const sp = p.reduce((a, b) => a + b, 0);
  const sq = q.reduce((a, b) => a + b, 0);
  let js = 0;
  for (let i = 0; i < p.length; i++) {
    const a = p[i]! / sp;
    const b = q[i]! / sq;
    const m = (a + b) / 2;
    if (a > 0) js += a * Math.log(a / m);
    if (b > 0) js += b * Math.log(b / m);
  }
  return Math.sqrt(Math.max(js, 0) / 2);
}

/** evidently's `jensenshannon` stattest: the distance between the binned shares (zeroes not filled). */
export function jensenShannonBinned(ref: readonly (number | string)[], cur: readonly (number | string)[], numeric: boolean): number {
  const b = binnedShares(ref, cur, numeric, false);
  return jensenShannon(b.ref, b.cur);
}

/**
 * evidently's `z` stattest for a column with at most two values: the two-proportion z-test (pooled
 * variance), two-sided p-value. Both samples holding the same single value give p = 1.
 */
export function proportionsZTest(ref: readonly (number | string)[], cur: readonly (number | string)[]): { statistic: number; pValue: number } {
  const keys = [...new Set([...ref, ...cur].map(String))];
  if (keys.length === 1) return { statistic: 0, pValue: 1 };
  const key = String(ref[0] ?? cur[0]);
  const p1 = ref.filter((x) => String(x) !== key).length / ref.length;
  const p2 = cur.filter((x) => String(x) !== key).length / cur.length;
  const p = (p1 * ref.length + p2 * cur.length) / (ref.length + cur.length);
  const z = (p1 - p2) / Math.sqrt(p * (1 - p) * (1 / ref.length + 1 / cur.length));
  return { statistic: z, pValue: 2 * normSf(Math.abs(z)) };
}

/** Share of values that are missing (null, undefined, NaN or an empty string). */
export function missingRate(values: readonly unknown[]): number {
  if (values.length === 0) return 0;
  return values.filter(isMissing).length / values.length;
}

export const isMissing = (v: unknown): boolean => v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v)) || v === '';

/** Share of the current values outside the reference's [min, max] (missing values not counted). */
export function outOfRangeRate(ref: readonly number[], cur: readonly number[]): number {
  if (cur.length === 0 || ref.length === 0) return 0;
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of ref) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return cur.filter((v) => v < lo || v > hi).length / cur.length;
}

/** Share of the current categories that the reference never had. */
export const newCategoryRate = (ref: readonly string[], cur: readonly string[]): number => {
  if (cur.length === 0) return 0;
  const seen = new Set(ref);
  return cur.filter((v) => !seen.has(v)).length / cur.length;
};
