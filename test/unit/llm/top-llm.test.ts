import { describe, expect, it } from 'vitest';
import { llmLines, llmRows } from '../../../src/cli/tui/llm-view.js';
import { frame } from '../../../src/cli/tui/view.js';
import type { Snapshot } from '../../../src/daemon/snapshot.js';

const LE = [0.05, 0.1, 0.5, Infinity];
const snap = (t: number, completion: number, ttftCounts: number[], llm = true): Snapshot => ({
  t,
  daemon: { pid: 1, version: '0.1.0', startedAt: 0, url: 'http://127.0.0.1:8000' },
  deployments: [{
    name: 'chat-v1', endpoint: 'chat', version: '1', state: 'ready', message: null, canaryWeight: 0,
    replicas: [{ idx: 0, pid: 2, state: 'ready', restarts: 0, inflight: 2, gpu: '-' }],
    requests: 10, errors: 0, batches: 0, batchedRequests: 0, queued: 3, inflight: 2, latency: { le: LE, counts: [0, 0, 0, 0] },
    ...(llm ? { llm: { promptTokens: completion / 2, completionTokens: completion, ttft: { le: LE, counts: ttftCounts }, kv: { used: 300, size: 1200 } } } : {}),
  }],
  gpus: [],
  events: [],
});

describe('top for language models', () => {
  it('shows output and input tokens/s, TTFT percentiles, waiting requests and KV use', () => {
    const rows = llmRows(snap(1000, 100, [0, 0, 0, 0]), snap(3000, 900, [50, 99, 100, 100]));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ outTps: 400, inTps: 200, waiting: 3, kvPct: 25 });
    expect(rows[0].ttftP50Ms).toBeCloseTo(50, 5);
    expect(rows[0].ttftP99Ms).toBeGreaterThan(90);
    expect(rows[0].ttftP99Ms).toBeLessThanOrEqual(100);
  });

  it('adds an LLM table to the frame, within the width; none for tensor models', () => {
    const lines = frame(snap(1000, 100, [0, 0, 0, 0]), snap(2000, 500, [10, 10, 10, 10]), new Map(), { width: 80, height: 30, selected: 0, showEvents: false });
    const at = lines.findIndex((l) => l.startsWith('LLM'));
    expect(at).toBeGreaterThan(0);
    expect(lines[at]).toContain('OUT TOK/S');
    expect(lines[at + 1]).toMatch(/chat-v1 \(chat\)\s+400\.0\s+200\.0\s+25\.0/);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
    expect(llmLines(null, snap(0, 0, [0, 0, 0, 0], false), 80)).toEqual([]);
  });
});
