// Number formatting shared by the text and HTML reports (PURE).
import { TEST_LABEL } from './decision.js';
import type { FeatureDrift } from './report.js';

/** A figure in at most ~7 characters: 0.0312, 1.2e-05, 12.3, 1.23e+04, '-' for null/NaN. */
export function fmt(x: number | null | undefined): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '-';
  if (x === Number.POSITIVE_INFINITY) return 'inf';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e4 || a < 1e-3) return x.toExponential(1);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(3);
}

export const pct = (x: number | null | undefined): string => (x === null || x === undefined || Number.isNaN(x) ? '-' : `${(x * 100).toFixed(1)}%`);

/** "K-S p-value 0.003 (<= 0.05)" for the deciding test of a feature. */
export function decisionText(f: FeatureDrift): string {
  if (!f.decision) return 'no values to compare';
  const d = f.decision;
  const pv = d.test === 'ks' || d.test === 'chisquare' || d.test === 'z';
  const op = d.test === 'ks' ? '<=' : pv ? '<' : '>=';
  return `${TEST_LABEL[d.test]} ${fmt(d.score)} (drift if ${op} ${d.threshold})`;
}
