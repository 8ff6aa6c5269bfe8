// Which test decides whether a column drifted, and its threshold (PURE): evidently's defaults
// (evidently/legacy/calculations/stattests/registry.py, _get_default_stattest, 0.7.x), applied to
// the non-missing values of both samples:
//
//   reference rows <= 1000: numeric with > 5 distinct values (both samples)  KS test, drift if p <= 0.05
//                           numeric with 3-5 values, categorical with > 2    chi-squared, drift if p < 0.05
//                           at most 2 values                                 two-proportion z-test, p < 0.05
//   reference rows > 1000:  numeric with > 5 distinct values                 Wasserstein distance / std(ref) >= 0.1
//                           anything else                                    Jensen-Shannon distance >= 0.1
//
// The dataset drifts when at least half of the columns drift (evidently's drift_share 0.5). PSI is
// always reported beside the deciding test with the usual reading: < 0.1 stable, 0.1-0.2 moderate,
// >= 0.2 significant; it does not decide.
import { ks2samp } from './ks.js';
import { chiSquareCategories, jensenShannonBinned, proportionsZTest, wassersteinNormed } from './stats.js';

export type ColumnKind = 'numeric' | 'categorical';
export type StatTest = 'ks' | 'chisquare' | 'z' | 'wasserstein' | 'jensenshannon';

/** Small reference samples get p-value tests, larger ones distances (evidently: 1000 rows). */
export const SMALL_REFERENCE_ROWS = 1000;
export const P_VALUE_ALPHA = 0.05;
export const DISTANCE_THRESHOLD = 0.1;
export const DRIFT_SHARE = 0.5;
export const PSI_MODERATE = 0.1;
export const PSI_SIGNIFICANT = 0.2;

export const TEST_LABEL: Record<StatTest, string> = {
  ks: 'K-S p-value',
  chisquare: 'chi-square p-value',
  z: 'Z-test p-value',
  wasserstein: 'Wasserstein (normed)',
  jensenshannon: 'Jensen-Shannon distance',
};

export interface Decision {
  test: StatTest;
  /** p-value for ks/chisquare/z, a distance for wasserstein/jensenshannon. */
  score: number;
  threshold: number;
  drifted: boolean;
}

/** The test evidently's defaults pick for a column (values without missing ones). */
export function chooseTest(kind: ColumnKind, referenceRows: number, distinctValues: number): StatTest {
  if (referenceRows <= SMALL_REFERENCE_ROWS) {
    if (kind === 'numeric' && distinctValues > 5) return 'ks';
    return distinctValues > 2 ? 'chisquare' : 'z';
  }
  return kind === 'numeric' && distinctValues > 5 ? 'wasserstein' : 'jensenshannon';
}

/** Run the chosen test on the non-missing values of both samples and decide. */
export function decide(kind: ColumnKind, ref: readonly (number | string)[], cur: readonly (number | string)[]): Decision {
  const distinct = new Set([...ref, ...cur]).size;
  const test = chooseTest(kind, ref.length, distinct);
  const numeric = kind === 'numeric';
  switch (test) {
    case 'ks': {
      const p = ks2samp(ref as number[], cur as number[]).pValue;
      return { test, score: p, threshold: P_VALUE_ALPHA, drifted: p <= P_VALUE_ALPHA };
    }
    case 'chisquare': {
      const p = chiSquareCategories(ref.map(String), cur.map(String)).pValue;
      return { test, score: p, threshold: P_VALUE_ALPHA, drifted: p < P_VALUE_ALPHA };
    }
    case 'z': {
      const p = proportionsZTest(ref, cur).pValue;
      return { test, score: p, threshold: P_VALUE_ALPHA, drifted: p < P_VALUE_ALPHA };
    }
    case 'wasserstein': {
      const d = wassersteinNormed(ref as number[], cur as number[]);
      return { test, score: d, threshold: DISTANCE_THRESHOLD, drifted: d >= DISTANCE_THRESHOLD };
    }
    case 'jensenshannon': {
      const d = jensenShannonBinned(ref, cur, numeric);
      return { test, score: d, threshold: DISTANCE_THRESHOLD, drifted: d >= DISTANCE_THRESHOLD };
    }
  }
}

/** evidently's dataset drift: at least DRIFT_SHARE of the columns drifted. */
export const datasetDrifted = (drifted: number, columns: number): boolean => columns > 0 && drifted / columns >= DRIFT_SHARE;

export const psiLevel = (psi: number): 'stable' | 'moderate' | 'significant' =>
  psi >= PSI_SIGNIFICANT ? 'significant' : psi >= PSI_MODERATE ? 'moderate' : 'stable';
