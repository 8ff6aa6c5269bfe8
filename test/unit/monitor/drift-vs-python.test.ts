// mlserve's drift figures against scipy.stats and evidently (pinned env 'drift') on the same data,
// and pandas/pyarrow reading the capture files test/helpers/capture.ts writes (the file contract).
//
// Tolerances: KS statistic, Wasserstein, chi-squared and evidently's scores are the same formulas
// in doubles: relative 1e-9 (absolute 1e-12 near zero). The KS p-value is exact like scipy's
// method='auto' up to 10,000 values a sample (same recursion: relative 1e-9); above, mlserve uses
// the Kolmogorov limit (equal to scipy's kstwobign to 1e-9) where scipy's 'asymp' adds a finite-n
// correction: those two agree within 15% of p, or 1e-6 for tiny p (at p ~ 1e-27 they differ by ~30%; the figures are printed).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decide } from '../../../src/monitor/drift/decision.js';
import { ks2samp } from '../../../src/monitor/drift/ks.js';
import { readParquetTable } from '../../../src/monitor/drift/reference.js';
import { chiSquareCategories, jensenShannonBinned, psi, wasserstein, wassersteinNormed } from '../../../src/monitor/drift/stats.js';
import { rng, writeCaptureFile } from '../../helpers/capture.js';
import { pythonEnv, REPO } from '../../helpers/python.js';

const SCRIPT = join(REPO, 'test', 'fixtures', 'python', 'drift_reference.py');

function close(actual: number, expected: number, rel = 1e-9, abs = 1e-12): void {
  expect(Math.abs(actual - expected), `${actual} vs ${expected}`).toBeLessThanOrEqual(Math.max(abs, rel * Math.abs(expected)));
}

interface Group {
  name: string;
  numerical: Record<string, { ref: number[]; cur: number[] }>;
  categorical: Record<string, { ref: string[]; cur: string[] }>;
}

function makeGroups(): Group[] {
  const r = rng(42);
  const normals = (n: number, mean = 0, sd = 1) => Array.from({ length: n }, () => r.normal(mean, sd));
  const pick = (n: number, cats: string[], weights: number[]) =>
    Array.from({ length: n }, () => {
      let u = r.uniform() * weights.reduce((a, b) => a + b, 0);
      for (let i = 0; i < cats.length; i++) if ((u -= weights[i]!) < 0) return cats[i]!;
      return cats[cats.length - 1]!;
    });
  const group = (name: string, nr: number, nc: number, shift: number): Group => ({
    name,
    numerical: {
      same: { ref: normals(nr), cur: normals(nc) },
      shifted: { ref: normals(nr), cur: normals(nc, shift) },
      scaled: { ref: normals(nr, 5, 2), cur: normals(nc, 5, 2.6) },
      few: { ref: pick(nr, ['1', '2', '3', '4'], [1, 1, 1, 1]).map(Number), cur: pick(nc, ['1', '2', '3', '4'], [1, 1, 1, 1.5]).map(Number) },
      rounded: { ref: normals(nr, 10, 3).map((x) => Math.round(x)), cur: normals(nc, 10.5, 3).map((x) => Math.round(x)) },
    },
    categorical: {
      colour: { ref: pick(nr, ['red', 'green', 'blue'], [5, 3, 2]), cur: pick(nc, ['red', 'green', 'blue'], [4, 3, 3]) },
      stable: { ref: pick(nr, ['a', 'b', 'c', 'd', 'e'], [1, 2, 3, 2, 1]), cur: pick(nc, ['a', 'b', 'c', 'd', 'e'], [1, 2, 3, 2, 1]) },
      flag: { ref: pick(nr, ['yes', 'no'], [1, 1]), cur: pick(nc, ['yes', 'no'], [1, 1.4]) },
    },
  });
  return [group('small', 400, 250, 0.3), group('equal', 300, 300, 0.25), group('large', 3000, 12000, 0.3)];
}

const METHOD: Record<string, string> = { 'K-S': 'ks', 'chi-square': 'chisquare', 'Z-test': 'z', Wasserstein: 'wasserstein', 'Jensen-Shannon': 'jensenshannon' };
const methodOf = (label: string) => Object.entries(METHOD).find(([k]) => label.startsWith(k))?.[1];

describe('drift statistics against scipy.stats and evidently', () => {
  const groups = makeGroups();
  let py: any;
  let captureFile: string;

  beforeAll(async () => {
    const python = await pythonEnv('drift');
    const dir = mkdtempSync(join(tmpdir(), 'mlserve-drift-py-'));
    const t0 = Date.UTC(2026, 11, 1, 10, 0, 0, 123);
    captureFile = writeCaptureFile(dir, 'iris', {
      timestamps: [t0, t0 + 1, t0 + 2, t0 + 1000],
      inputs: { x_0: [5.1, 4.9, null, 6.3], x_1: [3.5, 3, 3.2, 3.3], species: ['setosa', null, 'virginica', 'setosa'] },
      outputs: { label: [0, 0, 2, 2], y_0: [0.9, 0.8, 0.1, 0.05] },
    });
    writeFileSync(join(dir, 'in.json'), JSON.stringify({ groups, parquet: [captureFile] }));
    execFileSync(python, [SCRIPT, join(dir, 'in.json'), join(dir, 'out.json')], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 240_000 });
    py = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8'));
  }, 900_000);

  it.each(['small', 'equal', 'large'])('%s samples: KS, Wasserstein and chi-squared equal scipy.stats', (name) => {
    const g = groups.find((x) => x.name === name)!;
    const cols = py.groups[name].columns;
    for (const [k, v] of Object.entries(g.numerical)) {
      const ks = ks2samp(v.ref, v.cur);
      close(ks.statistic, cols[k].ks_statistic);
      if (ks.method === 'exact') close(ks.pValue, cols[k].ks_pvalue);
      else {
        close(ks.pValue, cols[k].kstwobign_pvalue);
        expect(Math.abs(ks.pValue - cols[k].ks_asymp_pvalue), `${k}: ${ks.pValue} vs scipy asymp ${cols[k].ks_asymp_pvalue}`).toBeLessThanOrEqual(Math.max(1e-6, 0.15 * cols[k].ks_asymp_pvalue));
      }
      close(wasserstein(v.ref, v.cur), cols[k].wasserstein);
      console.log(`${name}.${k}: KS ${ks.statistic.toFixed(4)} p ${ks.pValue.toExponential(4)} (${ks.method}; scipy auto ${Number(cols[k].ks_pvalue).toExponential(4)}, asymp ${Number(cols[k].ks_asymp_pvalue).toExponential(4)}), W ${cols[k].wasserstein.toFixed(5)}`);
    }
    for (const [k, v] of Object.entries(g.categorical)) {
      const chi = chiSquareCategories(v.ref, v.cur);
      close(chi.statistic, cols[k].chi_statistic);
      close(chi.pValue, cols[k].chi_pvalue);
      console.log(`${name}.${k}: chi2 ${chi.statistic.toFixed(4)} p ${chi.pValue.toExponential(4)} (scipy ${Number(cols[k].chi_pvalue).toExponential(4)})`);
    }
  });

  it.each(['small', 'equal', 'large'])("%s samples: evidently's DataDriftPreset picks the same test, score and decision", (name) => {
    const g = groups.find((x) => x.name === name)!;
    const ev = py.groups[name];
    let drifted = 0;
    const all: Array<[string, 'numeric' | 'categorical', Array<number | string>, Array<number | string>]> = [
      ...Object.entries(g.numerical).map(([k, v]) => [k, 'numeric', v.ref, v.cur] as [string, 'numeric', number[], number[]]),
      ...Object.entries(g.categorical).map(([k, v]) => [k, 'categorical', v.ref, v.cur] as [string, 'categorical', string[], string[]]),
    ];
    for (const [k, kind, ref, cur] of all) {
      const d = decide(kind, ref, cur);
      const e = ev.evidently[k];
      expect(d.test, `${name}.${k}: evidently used ${e.method}`).toBe(methodOf(e.method));
      close(d.score, e.value, 1e-9, 1e-12);
      expect(d.drifted, `${name}.${k}`).toBe(d.test === 'ks' ? e.value <= e.threshold : ['chisquare', 'z'].includes(d.test) ? e.value < e.threshold : e.value >= e.threshold);
      if (d.drifted) drifted++;
      close(psi(ref, cur, kind === 'numeric'), ev.psi[k].value, 1e-9, 1e-12);
      close(jensenShannonBinned(ref, cur, kind === 'numeric'), ev.jensenshannon[k].value, 1e-9, 1e-12);
      if (kind === 'numeric') close(wassersteinNormed(ref as number[], cur as number[]), ev.wasserstein_normed[k].value);
      console.log(`${name}.${k}: ${d.test} ${d.score.toExponential(4)} drift=${d.drifted} (evidently ${e.method} ${Number(e.value).toExponential(4)}); PSI ${ev.psi[k].value.toFixed(5)}`);
    }
    expect(drifted).toBe(ev.evidently_count.count);
  });

  it('the shifted columns are flagged and the unshifted ones are not (in these samples)', () => {
    for (const g of groups) {
      expect(decide('numeric', g.numerical.shifted!.ref, g.numerical.shifted!.cur).drifted, `${g.name}.shifted`).toBe(true);
      expect(decide('numeric', g.numerical.same!.ref, g.numerical.same!.cur).drifted, `${g.name}.same`).toBe(false);
      expect(decide('categorical', g.categorical.stable!.ref, g.categorical.stable!.cur).drifted, `${g.name}.stable`).toBe(false);
    }
  });

  it('pandas (pyarrow) reads the capture files the helper writes, as mlserve does', async () => {
    const p = py.parquet[0];
    expect(p.rows).toBe(4);
    expect(p.columns.slice(0, 7)).toEqual(['timestamp', 'request_id', 'row', 'endpoint', 'deployment', 'model_version', 'latency_ms']);
    expect(p.arrow_types.timestamp).toMatch(/^timestamp\[ms/);
    expect(p.arrow_types['input.x_0']).toBe('double');
    expect(p.arrow_types['input.species']).toMatch(/string/);
    expect(p.timestamps[0]).toMatch(/^2026-12-01T10:00:00\.123/);
    expect(p.nulls['input.x_0']).toBe(1);
    expect(p.nulls['input.species']).toBe(1);
    close(p.sums['input.x_0'], 5.1 + 4.9 + 6.3);
    const t = await readParquetTable(captureFile);
    expect(t.rows).toBe(4);
    expect(t.columns.map((c) => c.name)).toEqual(p.columns);
    expect(t.columns.find((c) => c.name === 'input.x_0')!.values).toEqual([5.1, 4.9, null, 6.3]);
  });
});
