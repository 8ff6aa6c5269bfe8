// driftReport(reference, current, options): every figure of a drift report from two tables (PURE).
// The CLI (`mlserve drift`) and the daemon's schedule both call it; report-text.ts and
// report-html.ts print what it returns. Statistics per pair of columns:
//   numeric:     KS statistic and p-value, Wasserstein distance (raw and divided by the reference's
//                std), PSI, out-of-range rate (current values outside the reference's [min, max])
//   categorical: chi-squared statistic and p-value, PSI, new-category rate
//   both:        missing rates, evidently's default test and its drift decision (decision.ts)
// Captured outputs pair with a reference column of the same name (prediction drift); without one
// they get distribution figures only.
import { decide, datasetDrifted, psiLevel, type ColumnKind, type Decision } from './decision.js';
import { ks2samp, type KsResult } from './ks.js';
import { matchColumns, type Matching, type Pair } from './matching.js';
import {
  categoryCounts, chiSquareCategories, histogram, histogramEdges, missingRate, newCategoryRate, outOfRangeRate, psi, std, wasserstein,
  type ChiSquare,
} from './stats.js';
import { asCategories, present, type Column, type Table } from './table.js';

/** Bins of the report's histograms (numeric) and the most categories drawn (the rest is "other"). */
export const CHART_BINS = 20;
export const CHART_CATEGORIES = 12;

export type Histogram =
  | { kind: 'numeric'; edges: number[]; reference: number[]; current: number[] }
  | { kind: 'categorical'; labels: string[]; reference: number[]; current: number[] };

export interface FeatureDrift extends Pair {
  kind: ColumnKind;
  rows: { reference: number; current: number };
  missing: { reference: number; current: number };
  /** Numeric: share of current values outside the reference range; categorical: share of new categories. */
  outOfRange: number;
  ks: KsResult | null;
  wasserstein: number | null;
  wassersteinNormed: number | null;
  chiSquare: ChiSquare | null;
  psi: number | null;
  psiLevel: 'stable' | 'moderate' | 'significant' | null;
  /** Null when one side has no values. */
  decision: Decision | null;
  /** Shares per bin (each side sums to 1). */
  histogram: Histogram;
}

export interface PredictionSummary {
  column: string;
  kind: ColumnKind;
  rows: number;
  missing: number;
  mean: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
  /** Categorical: the most frequent values and their shares. */
  top: Array<{ value: string; share: number }>;
}

export interface DriftOptions {
  endpoint?: string;
  window?: { from: string; to: string };
  deployment?: string;
  referenceName?: string;
  /** The reference's target or prediction column: never an input feature. */
  target?: string;
  /** ISO time the report was made (passed in: the function stays pure). */
  generatedAt?: string;
}

export interface DriftReport {
  endpoint: string | null;
  deployment: string | null;
  reference: string | null;
  window: { from: string; to: string } | null;
  generatedAt: string | null;
  rows: { reference: number; current: number };
  features: FeatureDrift[];
  predictions: PredictionSummary[];
  drifted: number;
  columns: number;
  datasetDrift: boolean;
  matching: Omit<Matching, 'pairs' | 'unpairedOutputs'>;
}

export function driftReport(reference: Table, current: Table, options: DriftOptions = {}): DriftReport {
  const m = matchColumns(reference, current, options.target);
  const refCol = new Map(reference.columns.map((c) => [c.name, c]));
  const curCol = new Map(current.columns.map((c) => [c.name, c]));
  const features = m.pairs.map((p) => featureDrift(p, refCol.get(p.referenceColumn)!, curCol.get(p.column)!));
  const predictions = m.unpairedOutputs.map((c) => summarize(curCol.get(c)!));
  const decided = features.filter((f) => f.decision !== null);
  const drifted = decided.filter((f) => f.decision!.drifted).length;
  return {
    endpoint: options.endpoint ?? null,
    deployment: options.deployment ?? null,
    reference: options.referenceName ?? null,
    window: options.window ?? null,
    generatedAt: options.generatedAt ?? null,
    rows: { reference: reference.rows, current: current.rows },
    features,
    predictions,
    drifted,
    columns: decided.length,
    datasetDrift: datasetDrifted(drifted, decided.length),
    matching: { mode: m.mode, unmatchedReference: m.unmatchedReference, unmatchedCurrent: m.unmatchedCurrent, notes: m.notes },
  };
}

export function featureDrift(pair: Pair, ref: Column, cur: Column): FeatureDrift {
  // A numeric column on one side and strings on the other are compared as categories.
  const kind: ColumnKind = ref.kind === 'numeric' && cur.kind === 'numeric' ? 'numeric' : 'categorical';
  const base = {
    ...pair,
    kind,
    rows: { reference: ref.values.length, current: cur.values.length },
    missing: { reference: missingRate(ref.values), current: missingRate(cur.values) },
  };
  if (kind === 'numeric') {
    const r = present(ref) as number[];
    const c = present(cur) as number[];
    const ok = r.length > 0 && c.length > 0;
    const w = ok ? wasserstein(r, c) : null;
    const p = ok ? psi(r, c, true) : null;
    return {
      ...base,
      outOfRange: outOfRangeRate(r, c),
      ks: ok ? ks2samp(r, c) : null,
      wasserstein: w,
      wassersteinNormed: w === null ? null : w / Math.max(std(r), 0.001),
      chiSquare: null,
      psi: p,
      psiLevel: p === null ? null : psiLevel(p),
      decision: ok ? decide('numeric', r, c) : null,
      histogram: numericHistogram(r, c),
    };
  }
  const r = asCategories(ref);
  const c = asCategories(cur);
  const ok = r.length > 0 && c.length > 0;
  const p = ok ? psi(r, c, false) : null;
  return {
    ...base,
    outOfRange: newCategoryRate(r, c),
    ks: null,
    wasserstein: null,
    wassersteinNormed: null,
    chiSquare: ok && new Set([...r, ...c]).size > 1 ? chiSquareCategories(r, c) : null,
    psi: p,
    psiLevel: p === null ? null : psiLevel(p),
    decision: ok ? decide('categorical', r, c) : null,
    histogram: categoricalHistogram(r, c),
  };
}

const shares = (counts: number[], n: number): number[] => counts.map((x) => (n > 0 ? x / n : 0));

/** CHART_BINS equal-width bins over the range of both samples; shares of each sample. */
export function numericHistogram(r: number[], c: number[]): Histogram {
  const all = [...r, ...c];
  if (all.length === 0) return { kind: 'numeric', edges: [], reference: [], current: [] };
  const edges = histogramEdges(all, CHART_BINS);
  return { kind: 'numeric', edges, reference: shares(histogram(r, edges), r.length), current: shares(histogram(c, edges), c.length) };
}

/** The CHART_CATEGORIES most frequent categories (both samples), the rest summed as "(other)". */
export function categoricalHistogram(r: string[], c: string[]): Histogram {
  const counts = categoryCounts(r, c);
  const order = counts.keys.map((k, i) => ({ k, i, n: counts.ref[i]! / Math.max(r.length, 1) + counts.cur[i]! / Math.max(c.length, 1) }));
  order.sort((a, b) => b.n - a.n || (a.k < b.k ? -1 : 1));
  const shown = order.slice(0, CHART_CATEGORIES);
  const rest = order.slice(CHART_CATEGORIES);
  const labels = shown.map((x) => x.k);
  const refCounts = shown.map((x) => counts.ref[x.i]!);
  const curCounts = shown.map((x) => counts.cur[x.i]!);
  if (rest.length > 0) {
    labels.push(`(other: ${rest.length})`);
    refCounts.push(rest.reduce((s, x) => s + counts.ref[x.i]!, 0));
    curCounts.push(rest.reduce((s, x) => s + counts.cur[x.i]!, 0));
  }
  return { kind: 'categorical', labels, reference: shares(refCounts, r.length), current: shares(curCounts, c.length) };
}

export function summarize(col: Column): PredictionSummary {
  const base = { column: col.name, kind: col.kind, rows: col.values.length, missing: missingRate(col.values) };
  if (col.kind === 'numeric') {
    const v = present(col) as number[];
    if (v.length === 0) return { ...base, mean: null, std: null, min: null, max: null, top: [] };
    return { ...base, mean: v.reduce((a, b) => a + b, 0) / v.length, std: std(v), min: v.reduce((a, b) => Math.min(a, b)), max: v.reduce((a, b) => Math.max(a, b)), top: [] };
  }
  const v = asCategories(col);
  const counts = categoryCounts(v, []);
  const top = counts.keys.map((value, i) => ({ value, share: counts.ref[i]! / v.length })).sort((a, b) => b.share - a.share).slice(0, 5);
  return { ...base, mean: null, std: null, min: null, max: null, top };
}
