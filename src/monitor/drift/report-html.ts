// The drift report as one self-contained HTML page (PURE): inline CSS, one inline SVG histogram per
// feature (reference and current side by side in each bin, with a legend), a summary at the top. No
// script, no external URL; every string from the data is escaped.
import { TEST_LABEL } from './decision.js';
import { decisionText, fmt, pct } from './format.js';
import type { DriftReport, FeatureDrift, Histogram } from './report.js';

const REF_COLOR = '#4c78a8';
const CUR_COLOR = '#f58518';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const W = 560;
const H = 220;
const PAD = { left: 44, right: 10, top: 28, bottom: 46 };

/** An SVG of the histogram: per bin a reference bar and a current bar, heights the shares. */
export function histogramSvg(h: Histogram, title: string): string {
  const n = h.reference.length;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const max = Math.max(1e-9, ...h.reference, ...h.current);
  const slot = n > 0 ? plotW / n : plotW;
  const bw = Math.max(1, (slot - 2) / 2);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(title)}">`);
  parts.push(`<title>${escapeHtml(title)}</title>`);
  for (const f of [0, 0.5, 1]) {
    const y = PAD.top + plotH * (1 - f);
    parts.push(`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${PAD.left - 4}" y="${(y + 4).toFixed(1)}" text-anchor="end" class="tick">${(max * f * 100).toFixed(0)}%</text>`);
  }
  for (let i = 0; i < n; i++) {
    const x0 = PAD.left + i * slot + 1;
    for (const [k, v, color, who] of [[0, h.reference[i]!, REF_COLOR, 'reference'], [1, h.current[i]!, CUR_COLOR, 'current']] as const) {
      const bh = (v / max) * plotH;
      const label = h.kind === 'numeric' ? `[${fmt(h.edges[i])}, ${fmt(h.edges[i + 1])})` : h.labels[i]!;
      parts.push(
        `<rect class="bar ${who}" x="${(x0 + k * bw).toFixed(1)}" y="${(PAD.top + plotH - bh).toFixed(1)}" width="${bw.toFixed(1)}" height="${bh.toFixed(1)}" fill="${color}"><title>${escapeHtml(`${who} ${label}: ${pct(v)}`)}</title></rect>`,
      );
    }
  }
  const base = PAD.top + plotH;
  parts.push(`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${base}" y2="${base}" stroke="#888"/>`);
  if (h.kind === 'numeric' && h.edges.length > 1) {
    parts.push(`<text x="${PAD.left}" y="${base + 14}" class="tick">${escapeHtml(fmt(h.edges[0]))}</text>`);
    parts.push(`<text x="${W - PAD.right}" y="${base + 14}" text-anchor="end" class="tick">${escapeHtml(fmt(h.edges[h.edges.length - 1]))}</text>`);
  } else if (h.kind === 'categorical') {
    h.labels.forEach((l, i) => {
      const x = PAD.left + (i + 0.5) * slot;
      const short = l.length > 10 ? `${l.slice(0, 9)}…` : l;
      parts.push(`<text x="${x.toFixed(1)}" y="${base + 14}" text-anchor="middle" class="tick">${escapeHtml(short)}</text>`);
    });
  }
  const ly = H - 12;
  parts.push(`<rect x="${PAD.left}" y="${ly - 9}" width="10" height="10" fill="${REF_COLOR}"/><text x="${PAD.left + 14}" y="${ly}" class="legend">reference</text>`);
  parts.push(`<rect x="${PAD.left + 90}" y="${ly - 9}" width="10" height="10" fill="${CUR_COLOR}"/><text x="${PAD.left + 104}" y="${ly}" class="legend">current</text>`);
  parts.push('</svg>');
  return parts.join('');
}

function featureCard(f: FeatureDrift): string {
  const status = f.decision ? (f.decision.drifted ? '<span class="badge drift">drift</span>' : '<span class="badge ok">no drift</span>') : '<span class="badge">no data</span>';
  const name = f.role === 'prediction' ? `${f.feature} (prediction)` : f.feature;
  const figures: Array<[string, string]> = [
    ['deciding test', decisionText(f)],
    ...(f.ks ? ([['K-S statistic / p-value', `${fmt(f.ks.statistic)} / ${fmt(f.ks.pValue)} (${f.ks.method})`]] as Array<[string, string]>) : []),
    ...(f.wasserstein !== null ? ([['Wasserstein / normed', `${fmt(f.wasserstein)} / ${fmt(f.wassersteinNormed)}`]] as Array<[string, string]>) : []),
    ...(f.chiSquare ? ([['chi-square / p-value', `${fmt(f.chiSquare.statistic)} / ${fmt(f.chiSquare.pValue)} (df ${f.chiSquare.df})`]] as Array<[string, string]>) : []),
    ['PSI', `${fmt(f.psi)}${f.psiLevel ? ` (${f.psiLevel})` : ''}`],
    ['missing (reference / current)', `${pct(f.missing.reference)} / ${pct(f.missing.current)}`],
    [f.kind === 'numeric' ? 'outside reference range' : 'new categories', pct(f.outOfRange)],
    ['columns', `${f.referenceColumn} ↔ ${f.column}`],
  ];
  const rows = figures.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('');
  return `<section class="feature${f.decision?.drifted ? ' drifted' : ''}" data-feature="${escapeHtml(f.feature)}"><h2>${escapeHtml(name)} ${status}</h2><div class="body">${histogramSvg(f.histogram, `${name}: reference vs current`)}<table>${rows}</table></div></section>`;
}

const CSS = `body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 4px}.sub{color:#666;margin-bottom:16px}
.summary{display:flex;gap:16px;flex-wrap:wrap;margin-bottom:20px}.card{background:#fff;border:1px solid #ddd;border-radius:8px;padding:10px 16px}
.card b{display:block;font-size:22px}.card.alert b{color:#c0392b}
.feature{background:#fff;border:1px solid #ddd;border-left:5px solid #2e9d5b;border-radius:8px;padding:8px 16px;margin-bottom:14px}
.feature.drifted{border-left-color:#c0392b}.feature h2{font-size:16px;margin:4px 0 8px}
.body{display:flex;gap:18px;flex-wrap:wrap;align-items:flex-start}table{border-collapse:collapse}th{text-align:left;font-weight:500;color:#555;padding:2px 12px 2px 0}
td{font-variant-numeric:tabular-nums}.badge{font-size:12px;border-radius:10px;padding:2px 8px;background:#eee;vertical-align:middle}
.badge.drift{background:#fadbd8;color:#922}.badge.ok{background:#d5f5e3;color:#1d6b3f}.tick{font-size:10px;fill:#666}.legend{font-size:11px;fill:#333}
.notes{color:#555}ul{margin:4px 0 16px}`;

export function reportHtml(r: DriftReport): string {
  const title = `Drift report${r.endpoint ? `: ${r.endpoint}` : ''}`;
  const cards = [
    [`${r.drifted} of ${r.columns}`, 'features drifted', r.drifted > 0],
    [r.datasetDrift ? 'yes' : 'no', 'dataset drift (≥ half drifted)', r.datasetDrift],
    [String(r.rows.current), 'captured rows', false],
    [String(r.rows.reference), 'reference rows', false],
  ] as const;
  const summary = cards.map(([v, k, alert]) => `<div class="card${alert ? ' alert' : ''}"><b>${escapeHtml(v)}</b>${escapeHtml(k)}</div>`).join('');
  const sub = [
    r.window ? `window ${r.window.from} – ${r.window.to}` : null,
    r.deployment ? `deployment ${r.deployment}` : null,
    r.reference ? `reference ${r.reference}` : null,
    r.generatedAt ? `made ${r.generatedAt}` : null,
  ].filter((x): x is string => x !== null);
  const notes = [
    ...r.matching.notes,
    ...(r.matching.unmatchedReference.length ? [`reference columns not captured: ${r.matching.unmatchedReference.join(', ')}`] : []),
    ...(r.matching.unmatchedCurrent.length ? [`captured inputs not in the reference: ${r.matching.unmatchedCurrent.join(', ')}`] : []),
    ...r.predictions.map((p) =>
      p.kind === 'numeric'
        ? `prediction ${p.column} (no reference column): mean ${fmt(p.mean)}, std ${fmt(p.std)}, min ${fmt(p.min)}, max ${fmt(p.max)}`
        : `prediction ${p.column} (no reference column): ${p.top.map((t) => `${t.value} ${pct(t.share)}`).join(', ')}`,
    ),
  ];
  const tests = Object.entries(TEST_LABEL).map(([k, v]) => `${k} = ${v}`).join('; ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title><style>${CSS}</style></head>
<body><h1>${escapeHtml(title)}</h1><div class="sub">${escapeHtml(sub.join(' · '))}</div>
<div class="summary">${summary}</div>
${notes.length ? `<ul class="notes">${notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>` : ''}
${r.features.map(featureCard).join('\n')}
<p class="notes">${escapeHtml(`Tests (evidently's defaults): reference ≤ 1000 rows: K-S (numeric, drift if p ≤ 0.05), chi-square or Z-test (categorical, p < 0.05); more rows: Wasserstein distance / std(reference) or Jensen-Shannon distance ≥ 0.1. PSI ≥ 0.1 moderate, ≥ 0.2 significant. ${tests}.`)}</p>
</body></html>
`;
}
