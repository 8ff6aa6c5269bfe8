// The drift statistics on hand-checked values (no Python needed), evidently's test choice, and the
// false-positive rate of the drift decision over repeated unshifted samples (seeded).
import { describe, expect, it } from 'vitest';
import { chooseTest, decide, datasetDrifted, psiLevel } from '../../../src/monitor/drift/decision.js';
import { kolmogorovSf, ks2samp, ksStatistic } from '../../../src/monitor/drift/ks.js';
import { chi2Sf, erfc, gammaQ, logGamma, normSf } from '../../../src/monitor/drift/special.js';
import {
  chiSquare, histogram, histogramEdges, jensenShannon, missingRate, newCategoryRate, outOfRangeRate, psi, sturgesBins, wasserstein,
} from '../../../src/monitor/drift/stats.js';
import { parseWindow } from '../../../src/monitor/drift/window.js';
import { rng } from '../../helpers/capture.js';

const near = (a: number, b: number, tol = 1e-10) => expect(Math.abs(a - b), `${a} vs ${b}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(b)));

describe('special functions', () => {
  it.each([
    [1, 0], [2, 0], [3, Math.log(2)], [0.5, Math.log(Math.sqrt(Math.PI))], [10, Math.log(362880)], [100, 359.13420536957540],
  ])('logGamma(%d)', (x, want) => near(logGamma(x), want, 1e-12));

  it.each([
    // chi-squared survival values (R: pchisq(x, df, lower.tail = FALSE))
    [3.841458820694124, 1, 0.05], [5.991464547107979, 2, 0.05], [0, 3, 1], [10, 10, 0.44049328506521257], [100, 50, 3.2077e-5],
  ])('chi2Sf(%d, df %d) = %d', (x, df, p) => near(chi2Sf(x, df), p, 1e-4));

  it('gammaQ, erfc and the normal tail', () => {
    near(gammaQ(1, 2), Math.exp(-2), 1e-13);
    near(erfc(0), 1, 1e-14);
    near(erfc(1), 0.15729920705028513, 1e-12);
    near(erfc(-1), 1.8427007929497148, 1e-12);
    near(2 * normSf(1.959963984540054), 0.05, 1e-10);
  });
});

describe('two-sample statistics', () => {
  it('KS statistic, exact p for small samples, the Kolmogorov limit for large ones', () => {
    expect(ksStatistic([1, 2, 3], [1, 2, 3])).toBe(0);
    expect(ksStatistic([1, 2, 3], [4, 5, 6])).toBe(1);
    // scipy.stats.ks_2samp([1,2,3], [4,5,6]) -> statistic 1, pvalue 0.1 (exact: 2 / C(6,3))
    near(ks2samp([1, 2, 3], [4, 5, 6]).pValue, 0.1, 1e-12);
    // scipy: ks_2samp([1,2,3,4], [5,6,7]) -> pvalue 0.05714285714285714 (2 / C(7,3))
    near(ks2samp([1, 2, 3, 4], [5, 6, 7]).pValue, 2 / 35, 1e-12);
    expect(ks2samp([1, 2], [1, 2]).pValue).toBe(1);
    near(kolmogorovSf(1.3580986393225507), 0.05, 1e-9);
    near(kolmogorovSf(0.5), 0.9639452436648751, 1e-9);
    const r = rng(1);
    expect(ks2samp(Array.from({ length: 10_001 }, () => r.normal()), Array.from({ length: 20 }, () => r.normal())).method).toBe('asymp');
  });

  it('Wasserstein-1 (scipy.stats.wasserstein_distance)', () => {
    near(wasserstein([0, 1, 3], [5, 6, 8]), 5); // scipy docs example
    near(wasserstein([0, 1], [0, 1]), 0);
    near(wasserstein([3.4, 3.9, 7.5, 7.8], [4.5, 1.4]), 2.7);
  });

  it('chi-squared of observed vs expected counts (scipy.stats.chisquare)', () => {
    // scipy.stats.chisquare([16, 18, 16, 14, 12, 12]) -> 2.0, p 0.8491450360846096
    const c = chiSquare([16, 18, 16, 14, 12, 12], [14.666666666666666, 14.666666666666666, 14.666666666666666, 14.666666666666666, 14.666666666666666, 14.666666666666666]);
    near(c.statistic, 2, 1e-12);
    near(c.pValue, 0.8491450360846096, 1e-12);
    expect(chiSquare([3, 1], [4, 0]).pValue).toBe(0); // a category the reference never had
  });

  it('numpy histogram edges and counts, Sturges bins', () => {
    expect(histogramEdges([0, 10], 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(histogram([0, 1.999, 2, 9.5, 10, 11], [0, 2, 4, 6, 8, 10])).toEqual([2, 1, 0, 0, 2]);
    expect(sturgesBins(Array.from({ length: 1000 }, (_, i) => i))).toBe(11); // ceil(log2(1000) + 1)
    expect(histogramEdges([3, 3], 1)).toEqual([2.5, 3.5]);
  });

  it('PSI, Jensen-Shannon and the rates', () => {
    expect(psi(['a', 'b'], ['a', 'b'], false)).toBe(0);
    // shares 0.5/0.5 vs 0.25/0.75: (0.25)ln 2 + (-0.25) ln(2/3)
    near(psi(['a', 'b'], ['a', 'b', 'b', 'b'], false), 0.25 * Math.log(2) - 0.25 * Math.log(0.5 / 0.75), 1e-12);
    near(jensenShannon([1, 0], [0, 1]), Math.sqrt(Math.log(2)), 1e-12);
    expect(missingRate([1, null, Number.NaN, 2])).toBe(0.5);
    expect(outOfRangeRate([0, 1, 2], [-1, 0.5, 3, 2])).toBe(0.5);
    expect(newCategoryRate(['a', 'b'], ['a', 'c', 'c', 'b'])).toBe(0.5);
    expect(psiLevel(0.05)).toBe('stable');
    expect(psiLevel(0.15)).toBe('moderate');
    expect(psiLevel(0.25)).toBe('significant');
  });
});

describe("evidently's default test per column", () => {
  it.each([
    ['numeric', 1000, 6, 'ks'], ['numeric', 1000, 5, 'chisquare'], ['numeric', 200, 2, 'z'], ['categorical', 500, 3, 'chisquare'],
    ['categorical', 500, 2, 'z'], ['numeric', 1001, 6, 'wasserstein'], ['numeric', 5000, 5, 'jensenshannon'], ['categorical', 5000, 40, 'jensenshannon'],
  ] as const)('%s, %d reference rows, %d values -> %s', (kind, rows, distinct, test) => {
    expect(chooseTest(kind, rows, distinct)).toBe(test);
  });

  it('dataset drift at half the columns', () => {
    expect(datasetDrifted(2, 4)).toBe(true);
    expect(datasetDrifted(1, 4)).toBe(false);
    expect(datasetDrifted(0, 0)).toBe(false);
  });

  it('--window values', () => {
    expect(parseWindow('1h')).toBe(3_600_000);
    expect(parseWindow('90m')).toBe(5_400_000);
    expect(parseWindow('7d')).toBe(604_800_000);
    expect(parseWindow('1.5h')).toBe(5_400_000);
    for (const bad of ['', 'h', '1', '1y', '-1h', '0s', '1 hour']) expect(parseWindow(bad), bad).toBeNull();
  });
});

describe('drift decisions over repeated samples (seeded)', () => {
  const TRIALS = 200;
  const r = rng(20261201);
  const normals = (n: number, mean = 0) => Array.from({ length: n }, () => r.normal(mean, 1));
  const cats = (n: number, w: number[]) =>
    Array.from({ length: n }, () => {
      let u = r.uniform() * w.reduce((a, b) => a + b, 0);
      for (let i = 0; i < w.length; i++) if ((u -= w[i]!) < 0) return `c${i}`;
      return `c${w.length - 1}`;
    });
  const rate = (f: () => boolean) => Array.from({ length: TRIALS }, f).filter(Boolean).length / TRIALS;

  it('KS at alpha 0.05 (200 reference, 100 current rows): about 5% false positives, a 0.5 sd shift found nearly always', () => {
    const ref = normals(200);
    const fp = rate(() => decide('numeric', ref, normals(100)).drifted);
    const tp = rate(() => decide('numeric', ref, normals(100, 0.5)).drifted);
    console.log(`KS: false-positive rate ${(fp * 100).toFixed(1)}% over ${TRIALS} unshifted samples, detection ${(tp * 100).toFixed(1)}% at +0.5 sd`);
    // A fixed reference makes the rate vary around alpha; binomial sd at 200 trials is 1.5%.
    expect(fp).toBeGreaterThan(0.005);
    expect(fp).toBeLessThan(0.12);
    expect(tp).toBeGreaterThan(0.8);
  });

  // evidently's chi-squared takes the reference shares as exact, but they are a sample too: the
  // statistic is about (1 + n_cur/n_ref)·chi2(k-1) under no drift, so false positives grow with
  // the current/reference size ratio (theory: 5.5% at 1:10, 15.7% at 1:2 for 4 categories).
  it('chi-squared at alpha 0.05 (categorical): about 5% false positives with a reference 10x the current rows, more at 2x', () => {
    const w = [5, 3, 2, 1];
    const fp10 = rate(() => decide('categorical', cats(1000, w), cats(100, w)).drifted);
    const fp2 = rate(() => decide('categorical', cats(300, w), cats(150, w)).drifted);
    const tp = rate(() => decide('categorical', cats(1000, w), cats(100, [3, 3, 3, 1])).drifted);
    console.log(`chi-squared: false-positive rate ${(fp10 * 100).toFixed(1)}% (reference 1000, current 100), ${(fp2 * 100).toFixed(1)}% (300 vs 150); detection ${(tp * 100).toFixed(1)}%`);
    expect(fp10).toBeGreaterThan(0.01);
    expect(fp10).toBeLessThan(0.1);
    expect(fp2).toBeGreaterThan(0.08);
    expect(fp2).toBeLessThan(0.25);
    expect(tp).toBeGreaterThan(0.6);
  });

  it('Wasserstein normed >= 0.1 for large references: few false positives at 2000/1000 rows, a 0.3 sd shift always found', () => {
    const fp = rate(() => decide('numeric', normals(2000), normals(1000)).drifted);
    const tp = rate(() => decide('numeric', normals(2000), normals(1000, 0.3)).drifted);
    console.log(`Wasserstein: false-positive rate ${(fp * 100).toFixed(1)}%, detection ${(tp * 100).toFixed(1)}% at +0.3 sd`);
    expect(fp).toBeLessThan(0.1);
    expect(tp).toBe(1);
  });
});
