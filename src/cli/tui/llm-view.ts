// PURE: the language-model part of `mlserve top`: per LLM deployment, output and input tokens/s,
// time to first token p50/p99 (from TTFT histogram deltas between two snapshots), requests waiting
// and KV-cache use. Shown under the deployments table when an LLM is deployed.
import type { DeploymentSnapshot, Snapshot } from '../../daemon/snapshot.js';
import { histogramQuantile } from '../../daemon/rollout/canary-analysis.js';

export interface LlmRow {
  name: string;
  endpoint: string;
  outTps: number;
  inTps: number;
  ttftP50Ms: number | null;
  ttftP99Ms: number | null;
  waiting: number;
  kvPct: number | null;
}

export function llmRows(prev: Snapshot | null, cur: Snapshot): LlmRow[] {
  const dt = prev ? (cur.t - prev.t) / 1000 : 0;
  return cur.deployments.filter((d) => d.llm).map((d) => {
    const llm = d.llm!;
    const p: DeploymentSnapshot | undefined = prev?.deployments.find((x) => x.name === d.name);
    const pl = p?.llm;
    const prevCounts = pl && pl.ttft.le.length === llm.ttft.le.length ? pl.ttft.counts : llm.ttft.counts.map(() => 0);
    const q = (x: number) => {
      const v = pl ? histogramQuantile(x, llm.ttft.le, llm.ttft.counts.map((c, i) => c - (prevCounts[i] ?? 0))) : null;
      return v === null ? null : v * 1000;
    };
    return {
      name: d.name,
      endpoint: d.endpoint,
      outTps: pl && dt > 0 ? (llm.completionTokens - pl.completionTokens) / dt : 0,
      inTps: pl && dt > 0 ? (llm.promptTokens - pl.promptTokens) / dt : 0,
      ttftP50Ms: q(0.5),
      ttftP99Ms: q(0.99),
      waiting: d.queued,
      kvPct: llm.kv && llm.kv.size > 0 ? (100 * llm.kv.used) / llm.kv.size : null,
    };
  });
}

const num = (n: number | null, w: number, digits = 1) => (n === null ? '-' : n >= 1000 ? n.toFixed(0) : n.toFixed(digits)).padStart(w);
const cut = (s: string, w: number) => (s.length > w ? `${s.slice(0, w - 1)}…` : s.padEnd(w));

/** The LLM table's lines (none without an LLM deployment), at most `width` wide. */
export function llmLines(prev: Snapshot | null, cur: Snapshot, width: number): string[] {
  const rs = llmRows(prev, cur);
  if (rs.length === 0) return [];
  const nameW = Math.max(18, width - 58);
  const out = ['', cut(`${'LLM'.padEnd(nameW)} OUT TOK/S  IN TOK/S  TTFT P50  TTFT P99  WAIT   KV%`, width)];
  for (const r of rs) {
    out.push(cut(` ${cut(`${r.name} (${r.endpoint})`, nameW - 1)} ${num(r.outTps, 9)}  ${num(r.inTps, 8)}  ${num(r.ttftP50Ms, 8)}  ${num(r.ttftP99Ms, 8)}  ${String(r.waiting).padStart(4)}  ${num(r.kvPct, 4, 0)}`, width));
  }
  return out;
}
