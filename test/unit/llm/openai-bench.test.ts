import { describe, expect, it } from 'vitest';
import { builtinPrompts, readPromptFile } from '../../../src/bench/openai-load.js';
import { checkLlmAssertions, llmSummaryRows, parseLlmAssertions, type LlmBenchResult } from '../../../src/bench/openai-report.js';

const P = (p50: number, p99: number) => ({ p50, p90: (p50 + p99) / 2, p99, max: p99, mean: p50 });
const result: LlmBenchResult = {
  model: 'chat', api: 'chat', mode: 'closed', concurrency: 4, prompts: 'short', maxTokens: 64, durationS: 10, requests: 100, throughput: 10,
  outputTokensPerS: 640, inputTokensPerS: 300, ttftMs: P(40, 120), itlMs: P(5, 12), e2eMs: P(400, 900), requestTokensPerS: P(160, 200),
  outputTokens: 6400, promptTokens: 3000, errors: { total: 1, rate: 0.01, byStatus: { 429: 1 } },
};

describe('bench --openai assertions', () => {
  it.each([
    ['ttft_p99<500ms', 'ttft_p99', '<', 500],
    ['ttft_p99 < 0.5s', 'ttft_p99', '<', 500],
    ['itl_p50<=10', 'itl_p50', '<=', 10],
    ['output_tps>100tok/s', 'output_tps', '>', 100],
    ['throughput>=2rps', 'throughput', '>=', 2],
    ['errors<1%', 'errors', '<', 0.01],
  ])('%s', (text, metric, op, value) => {
    expect(parseLlmAssertions(text)).toEqual([{ text: text.trim(), metric, op, value }]);
  });

  it.each([
    ['p99<5ms', /unknown metric 'p99'/],
    ['ttft_p99<5tok/s', /latencies take ms/],
    ['output_tps>5ms', /tokens per second/],
    ['ttft_p99 about 5', /cannot read/],
  ])('refuses %s', (text, why) => {
    expect(() => parseLlmAssertions(text)).toThrow(why);
  });

  it('checks a result: TTFT, tokens/s and errors gates', () => {
    const v = checkLlmAssertions(result, parseLlmAssertions('ttft_p99<500ms,output_tps>1000,errors<=1%,e2e_p50<1s'));
    expect(v.map((x) => [x.assertion, x.ok, x.unit])).toEqual([
      ['ttft_p99<500ms', true, 'ms'], ['output_tps>1000', false, 'tok/s'], ['errors<=1%', true, '%'], ['e2e_p50<1s', true, 'ms'],
    ]);
    expect(v[2].actual).toBeCloseTo(1);
    expect(llmSummaryRows(result).map((r) => r[0])).toContain('TTFT p50 / p90 / p99');
  });
});

describe('prompt sets', () => {
  it('has built-in short and long sets (long ones share a long context: prefix caching)', () => {
    const short = builtinPrompts('short');
    const long = builtinPrompts('long');
    expect(short.length).toBeGreaterThan(4);
    expect(long[0].messages![0].content.length).toBeGreaterThan(2000);
    expect(long[0].messages![0].content).toBe(long[1].messages![0].content);
  });

  it('reads JSONL files, saying which line is wrong', () => {
    expect(readPromptFile('{"prompt": "a", "max_tokens": 3}\n\n{"messages": [{"role": "user", "content": "b"}]}\n')).toEqual([
      { prompt: 'a', maxTokens: 3 }, { messages: [{ role: 'user', content: 'b' }] },
    ]);
    expect(() => readPromptFile('{"prompt": "a"}\n{oops', 'p.jsonl')).toThrow(/p.jsonl:2: not JSON/);
    expect(() => readPromptFile('{"text": "a"}', 'p.jsonl')).toThrow(/p.jsonl:1: each line needs/);
    expect(() => readPromptFile('\n', 'p.jsonl')).toThrow(/no prompts/);
  });
});
