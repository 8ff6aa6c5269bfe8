// PURE: what `mlserve status` says about a language model deployment: its engine, context and
// slots (as the replica reported them), the queue, tokens served and KV-cache use.
import type { DispatchOptions } from '../daemon/dataplane/dispatcher.js';
import type { LlmSettings } from '../daemon/fleet/kinds/kind.js';

export interface LlmStatusInput {
  runtime: string;
  settings: { llm?: LlmSettings; maxOngoingRequests?: number };
  about: Record<string, unknown> | null;
  dispatch: DispatchOptions;
  stats: ({ requests: number; queued: number } & { llm?: { promptTokens: number; completionTokens: number; cachedTokens: number; kv: { used: number; size: number } | null; routed: Record<string, number> } }) | null;
}

export function llmStatusLines(d: LlmStatusInput): string[] {
  const about = (d.about?.llm ?? {}) as { engine?: string; contextSize?: number; slots?: number; architecture?: string; chatTemplate?: string; baseUrl?: string; models?: string[] };
  const l = d.settings.llm ?? {};
  const out: string[] = [];
  if (d.runtime === 'llamacpp') {
    out.push(`  runtime: llamacpp (node-llama-cpp)${about.architecture ? `, ${about.architecture}` : ''}; context ${about.contextSize ?? l.ctxSize ?? '?'} tokens x ${about.slots ?? l.slots ?? '?'} slots per replica${about.chatTemplate ? `, chat template ${about.chatTemplate}` : ''}`);
  } else {
    out.push(`  runtime: openai engine: ${l.engine ? `vllm serve` : l.engineCmd}`);
    if (about.baseUrl) out.push(`  engine: ${about.baseUrl} serving ${about.models?.join(', ') || '?'}; ${d.settings.maxOngoingRequests ?? about.slots ?? '?'} requests in flight per replica`);
  }
  out.push(`  queue: <= ${d.dispatch.maxQueued} waiting (429 past it), ${d.dispatch.timeoutMs} ms for a slot`);
  const s = d.stats?.llm;
  if (s && d.stats) {
    const routed = Object.entries(s.routed).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ');
    out.push(`  served: ${d.stats.requests} requests, ${s.promptTokens} prompt tokens (${s.cachedTokens} from the KV cache), ${s.completionTokens} generated; ${d.stats.queued} waiting${routed ? `; routed: ${routed}` : ''}`);
    if (s.kv) out.push(`  KV cache: ${s.kv.used} of ${s.kv.size} cells in use (${((100 * s.kv.used) / Math.max(1, s.kv.size)).toFixed(0)}%)`);
  }
  return out;
}
