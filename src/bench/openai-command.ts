// `mlserve bench <endpoint> --openai`: load a language model endpoint through the OpenAI API
// (streamed), report TTFT, inter-token latency, output tokens/s and request throughput
// percentiles, and gate CI with --assert "ttft_p99<500ms,output_tps>100".
import { appendFileSync, readFileSync } from 'node:fs';
import { table } from '../cli/format.js';
import type { BaseCommand } from '../cli/base.js';
import type { DaemonInfo } from '../daemon/control/control-server.js';
import { builtinPrompts, readPromptFile, runLlmLoad, type BenchPrompt } from './openai-load.js';
import { checkLlmAssertions, llmSummaryRows, parseLlmAssertions, type LlmAssertion, type LlmBenchResult } from './openai-report.js';
import type { Verdict } from './report.js';

export interface OpenAiBenchFlags {
  concurrency: number;
  rate?: number;
  durationMs: number;
  warmupMs: number;
  assert?: string;
  prompts: string;
  maxTokens: number;
  api: string;
  temperature: number;
  requests?: number;
}

export async function openAiBench(cmd: BaseCommand, endpoint: string, flags: OpenAiBenchFlags): Promise<LlmBenchResult & { checks: Verdict[] }> {
  let asserts: LlmAssertion[];
  let prompts: BenchPrompt[];
  try {
    asserts = flags.assert ? parseLlmAssertions(flags.assert) : [];
    prompts = flags.prompts === 'short' || flags.prompts === 'long' ? builtinPrompts(flags.prompts) : readPromptFile(readFileSync(flags.prompts, 'utf8'), flags.prompts);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return cmd.fail('USAGE', e.code === 'ENOENT' ? `--prompts ${flags.prompts}: no such file; use short, long or a JSONL file` : e.message);
  }
  const info = await cmd.client.call<DaemonInfo>('GET', '/v1/health');
  const api = flags.api === 'completions' ? 'completions' : 'chat';
  const mode = flags.rate ? 'open' : 'closed';
  cmd.progress(`bench ${endpoint} (OpenAI ${api}): ${mode} loop, ${flags.rate ? `${flags.rate} req/s` : `concurrency ${flags.concurrency}`}, prompts ${flags.prompts}, max_tokens ${flags.maxTokens}`);
  const tty = process.stderr.isTTY === true && !cmd.jsonEnabled();
  const load = await runLlmLoad({
    url: info.ingress.url, model: endpoint, api, prompts, maxTokens: flags.maxTokens, temperature: flags.temperature,
    durationMs: flags.durationMs, warmupMs: flags.warmupMs, concurrency: flags.rate ? undefined : flags.concurrency, rate: flags.rate, requests: flags.requests,
    onTick: (t) => {
      if (tty) process.stderr.write(`\r${(t.elapsedMs / 1000).toFixed(0)}s: ${t.ok} ok, ${t.errors} errors, TTFT p99 ${t.ttftP99Ms.toFixed(1)} ms\x1b[K`);
    },
  });
  if (tty) process.stderr.write('\n');
  const result: LlmBenchResult = {
    model: endpoint, api, mode, prompts: flags.prompts, maxTokens: flags.maxTokens,
    ...(flags.rate ? { rate: flags.rate } : { concurrency: flags.concurrency }), ...load,
  };
  const checks = checkLlmAssertions(result, asserts);
  cmd.say(table(['METRIC', 'VALUE'], llmSummaryRows(result)));
  if (checks.length) {
    cmd.say('');
    cmd.say(table(['CHECK', 'ACTUAL', 'LIMIT', 'RESULT'], checks.map((c) => [c.assertion, `${c.actual.toFixed(2)} ${c.unit}`, `${c.limit.toFixed(2)} ${c.unit}`, c.ok ? 'pass' : 'FAIL'])));
  }
  if (process.env.GITHUB_STEP_SUMMARY) {
    const rows = llmSummaryRows(result).map(([k, v]) => `| ${k} | ${v} |`).join('\n');
    const gates = checks.map((c) => `| ${c.assertion} | ${c.actual.toFixed(2)} ${c.unit} | ${c.ok ? 'pass' : '**FAIL**'} |`).join('\n');
    appendFileSync(process.env.GITHUB_STEP_SUMMARY, `### mlserve bench --openai ${endpoint}\n\n| metric | value |\n|---|---|\n${rows}\n${gates ? `\n| check | actual | result |\n|---|---|---|\n${gates}\n` : ''}\n`);
  }
  const out = { ...result, checks };
  const failed = checks.filter((c) => !c.ok);
  if (failed.length) {
    if (cmd.jsonEnabled()) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    else process.stderr.write(`Error: ${failed.length} of ${checks.length} check(s) failed\n`);
    cmd.exit(1);
  }
  return out;
}
