// The drift report as text for a terminal (PURE): a summary, then one line per feature in 80 columns.
import { fmt, pct } from './format.js';
import type { DriftReport, FeatureDrift } from './report.js';

const COLS: Array<{ title: string; width: number; cell: (f: FeatureDrift) => string; left?: boolean }> = [
  { title: 'feature', width: 16, cell: (f) => (f.role === 'prediction' ? `${f.feature} (pred)` : f.feature), left: true },
  { title: 'test', width: 6, cell: (f) => f.decision?.test.replace('jensenshannon', 'js').replace('wasserstein', 'wass').replace('chisquare', 'chi2') ?? '-', left: true },
  { title: 'score', width: 7, cell: (f) => fmt(f.decision?.score) },
  { title: 'drift', width: 5, cell: (f) => (f.decision ? (f.decision.drifted ? 'YES' : 'no') : '-'), left: true },
  { title: 'KS/chi2', width: 7, cell: (f) => fmt(f.ks?.statistic ?? f.chiSquare?.statistic) },
  { title: 'p', width: 7, cell: (f) => fmt(f.ks?.pValue ?? f.chiSquare?.pValue) },
  { title: 'wass', width: 7, cell: (f) => fmt(f.wasserstein) },
  { title: 'PSI', width: 6, cell: (f) => fmt(f.psi) },
  { title: 'miss', width: 5, cell: (f) => pct(f.missing.current).replace('.0%', '%') },
  { title: 'oor', width: 5, cell: (f) => pct(f.outOfRange).replace('.0%', '%') },
];

function cut(s: string, w: number): string {
  return s.length > w ? `${s.slice(0, w - 1)}~` : s;
}

/** One row of the table (cells cut to their width, separated by one space). */
function row(cells: string[]): string {
  return cells.map((c, i) => (COLS[i]!.left ? cut(c, COLS[i]!.width).padEnd(COLS[i]!.width) : cut(c, COLS[i]!.width).padStart(COLS[i]!.width))).join(' ').trimEnd();
}

/** Words into lines of at most `width` characters (a longer word is cut). */
export function wrap(text: string, width = 80): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = '';
    }
    line = line ? `${line} ${word}` : cut(word, width);
  }
  if (line) lines.push(line);
  return lines;
}

export function reportText(r: DriftReport): string {
  const out: string[] = [];
  const where = [r.endpoint ? `endpoint ${r.endpoint}` : null, r.deployment ? `deployment ${r.deployment}` : null].filter(Boolean).join(', ');
  out.push(...wrap(`Drift${where ? ` of ${where}` : ''}`));
  if (r.window) out.push(`window: ${r.window.from} to ${r.window.to}`);
  out.push(...wrap(`rows: ${r.rows.current} captured, ${r.rows.reference} in the reference${r.reference ? ` (${r.reference})` : ''}`));
  out.push(`drifted: ${r.drifted} of ${r.columns} features${r.datasetDrift ? ' -> DATASET DRIFT (at least half drifted)' : ''}`);
  out.push('');
  if (r.features.length > 0) {
    out.push(row(COLS.map((c) => c.title)));
    for (const f of r.features) out.push(row(COLS.map((c) => c.cell(f))));
    out.push('');
    out.push(...wrap('test: ks = K-S p-value (drift if <= 0.05), chi2/z = chi-squared/Z-test p-value (drift if < 0.05), wass = Wasserstein distance / std(ref) and js = Jensen-Shannon distance (drift if >= 0.1); KS/chi2 and p: the statistic and p-value; miss = missing, oor = outside the reference range (numeric) or new categories; PSI >= 0.1 moderate, >= 0.2 significant.'));
  } else out.push('no captured column matches a reference column');
  for (const p of r.predictions) {
    const figures = p.kind === 'numeric' ? `mean ${fmt(p.mean)} std ${fmt(p.std)} min ${fmt(p.min)} max ${fmt(p.max)}` : p.top.map((t) => `${t.value} ${pct(t.share)}`).join(', ');
    out.push(...wrap(`prediction ${p.column}: ${figures}, missing ${pct(p.missing)}`));
  }
  for (const n of r.matching.notes) out.push(...wrap(`note: ${n}`));
  if (r.matching.unmatchedReference.length) out.push(...wrap(`reference columns not captured: ${r.matching.unmatchedReference.join(', ')}`));
  if (r.matching.unmatchedCurrent.length) out.push(...wrap(`captured inputs not in the reference: ${r.matching.unmatchedCurrent.join(', ')}`));
  return out.join('\n');
}
