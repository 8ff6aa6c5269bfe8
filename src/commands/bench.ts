import { appendFileSync, readFileSync } from 'node:fs';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { table } from '../cli/format.js';
import type { DaemonInfo } from '../daemon/control/control-server.js';
import type { DispatchStats } from '../daemon/dataplane/dispatcher.js';
import type { Signature } from '../tensor.js';
import { buildRequest, requestFromFile } from '../bench/inputs.js';
import { runLoad } from '../bench/load.js';
import { openAiBench } from '../bench/openai-command.js';
import {
  baselineWarnings, checkAssertions, compareBaseline, markdownSummary, parseAssertions, progressText, readBaseline, summaryRows, type BenchResult, type Verdict,
} from '../bench/report.js';

type Deployment = { name: string; endpoint: string; spec: Signature | null; signature: Signature | null; stats: DispatchStats | null };

/** Without a terminal, one progress line this often. */
const PLAIN_PROGRESS_MS = 5000;

function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s.trim());
  if (!m) throw new Error(`'${s}' is not a duration; use e.g. 30s, 500ms, 2m`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

export default class Bench extends BaseCommand {
  static override description = 'Load-test an endpoint: latency percentiles, throughput, errors, server-side batching; gates CI with --assert';
  static override examples = [
    '<%= config.bin %> bench resnet50 --concurrency 64 --duration 30s --assert "p99<50ms,errors<0.1%"',
    '<%= config.bin %> bench demo --rate 500 --duration 10s --protocol binary',
    '<%= config.bin %> bench chat --openai --prompts long --concurrency 8 --max-tokens 128 --assert "ttft_p99<500ms,output_tps>100"',
  ];
  static override args = { endpoint: Args.string({ description: 'endpoint to load', required: true }) };
  static override flags = {
    concurrency: Flags.integer({ char: 'c', description: 'closed loop: clients sending back to back', default: 16, min: 1 }),
    rate: Flags.integer({ char: 'r', description: 'open loop: requests per second at constant intervals (overrides --concurrency)', min: 1 }),
    duration: Flags.string({ char: 'd', description: 'how long to measure', default: '10s' }),
    warmup: Flags.string({ description: 'load before measuring (not counted)', default: '2s' }),
    batch: Flags.integer({ description: 'rows per request (the dynamic first dimension)', default: 1, min: 1 }),
    input: Flags.string({ description: 'an OIP JSON inference request to send instead of generated inputs' }),
    protocol: Flags.string({ description: 'request encoding', options: ['json', 'binary'], default: 'json' }),
    assert: Flags.string({ description: 'gates, e.g. "p99<50ms,throughput>1000,errors<0.1%"; exit 1 when one fails' }),
    baseline: Flags.string({ description: 'an earlier bench --json result to compare with' }),
    'max-regression': Flags.string({ description: 'allowed drop in throughput / rise in p99 against --baseline', default: '10%' }),
    openai: Flags.boolean({ description: 'a language model: streamed OpenAI requests; reports TTFT, inter-token latency, tokens/s (asserts: ttft_p99, itl_p99, e2e_p99, output_tps, throughput, errors)', default: false }),
    prompts: Flags.string({ description: '--openai: the prompt set: short, long (a shared 2 KB context), or a JSONL file of {"messages": [...]} / {"prompt": "..."}', default: 'short' }),
    'max-tokens': Flags.integer({ description: '--openai: max_tokens per request', default: 128, min: 1 }),
    api: Flags.string({ description: '--openai: which API to load', options: ['chat', 'completions'], default: 'chat' }),
    temperature: Flags.string({ description: '--openai: sampling temperature', default: '0' }),
    requests: Flags.integer({ description: '--openai: a fixed number of requests instead of --duration', min: 1 }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(Bench);
    if (flags.openai) {
      let durationMs = 0;
      let warmupMs = 0;
      try {
        durationMs = parseDuration(flags.duration);
        warmupMs = parseDuration(flags.warmup);
      } catch (err) {
        return this.fail('USAGE', (err as Error).message);
      }
      return openAiBench(this, args.endpoint, {
        concurrency: flags.concurrency, rate: flags.rate, durationMs, warmupMs, assert: flags.assert, prompts: flags.prompts,
        maxTokens: flags['max-tokens'], api: flags.api, temperature: Number(flags.temperature), requests: flags.requests,
      });
    }
    return this.runTensors(args, flags);
  }

  private async runTensors(args: { endpoint: string }, flags: Awaited<ReturnType<Bench['parse']>>['flags'] & Record<string, any>): Promise<BenchResult & { checks: Verdict[]; warnings: string[] }> {
    let asserts, durationMs, warmupMs, maxRegression;
    // Everything the flags name is checked before any load is sent.
    let base: BenchResult | undefined;
    try {
      asserts = flags.assert ? parseAssertions(flags.assert) : [];
      durationMs = parseDuration(flags.duration);
      warmupMs = parseDuration(flags.warmup);
      const reg = flags['max-regression'].trim();
      maxRegression = Number(reg.replace(/%$/, '')) / (reg.endsWith('%') ? 100 : 1);
      if (!Number.isFinite(maxRegression) || maxRegression < 0) throw new Error(`--max-regression ${reg} is not a percentage (e.g. 10%) or a fraction (0.1)`);
      if (flags.baseline) {
        let text: string;
        try {
          text = readFileSync(flags.baseline, 'utf8');
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          throw new Error(`--baseline ${flags.baseline} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? (err as Error).message})`}; pass the output of an earlier mlserve bench --json`);
        }
        base = readBaseline(text, flags.baseline);
      }
    } catch (err) {
      return this.fail('USAGE', (err as Error).message);
    }
    const info = await this.client.call<DaemonInfo>('GET', '/v1/health');
    const dep = await this.client.call<Deployment>('GET', `/v1/deployments/${encodeURIComponent(args.endpoint)}`);
    const sig = dep.spec ?? dep.signature;
    if (!sig) this.fail('NOT_READY', `deployment ${dep.name} is not ready yet (no model signature); see mlserve status`);
    const protocol = flags.protocol as 'json' | 'binary';
    let request;
    try {
      request = flags.input ? requestFromFile(dep.endpoint, readFileSync(flags.input, 'utf8')) : buildRequest(dep.endpoint, sig, flags.batch, protocol);
    } catch (err) {
      return this.fail('USAGE', flags.input ? `--input ${flags.input}: ${(err as Error).message}` : (err as Error).message);
    }

    const mode = flags.rate ? 'open' : 'closed';
    const warnings = base
      ? baselineWarnings({ endpoint: dep.endpoint, mode, protocol, batch: flags.batch, concurrency: flags.rate ? undefined : flags.concurrency, rate: flags.rate }, base, flags.baseline!)
      : [];
    for (const w of warnings) if (!this.jsonEnabled()) process.stderr.write(`Warning: ${w}\n`);
    this.progress(`bench ${dep.endpoint}: ${mode} loop, ${flags.rate ? `${flags.rate} req/s` : `concurrency ${flags.concurrency}`}, ${protocol}, batch ${flags.batch}, ${flags.warmup} warmup + ${flags.duration}`);
    const before = dep.stats;
    const tty = process.stderr.isTTY === true;
    let nextPlain = PLAIN_PROGRESS_MS;
    const load = await runLoad({
      url: info.ingress.url,
      request,
      durationMs,
      warmupMs,
      concurrency: flags.rate ? undefined : flags.concurrency,
      rate: flags.rate,
      onTick: (t) => {
        if (this.jsonEnabled()) return;
        // A terminal gets one line redrawn in place; a pipe or CI log a plain line every 5 s.
        if (tty) process.stderr.write(`\r${progressText(t)}\x1b[K`);
        else if (t.elapsedMs >= nextPlain) {
          process.stderr.write(`${progressText(t)}\n`);
          nextPlain += PLAIN_PROGRESS_MS;
        }
      },
    });
    if (tty && !this.jsonEnabled()) process.stderr.write('\n');
    const after = (await this.client.call<Deployment>('GET', `/v1/deployments/${encodeURIComponent(args.endpoint)}`)).stats;

    const h = load.histogram;
    const total = load.ok + load.errors;
    const result: BenchResult = {
      endpoint: dep.endpoint,
      protocol,
      mode,
      concurrency: flags.rate ? undefined : flags.concurrency,
      rate: flags.rate,
      batch: flags.batch,
      durationS: load.elapsedMs / 1000,
      requests: total,
      throughput: load.ok / (load.elapsedMs / 1000),
      latencyMs: {
        p50: h.getValueAtPercentile(50) / 1000,
        p90: h.getValueAtPercentile(90) / 1000,
        p99: h.getValueAtPercentile(99) / 1000,
        p999: h.getValueAtPercentile(99.9) / 1000,
        max: h.maxValue / 1000,
        mean: h.mean / 1000,
      },
      errors: { total: load.errors, rate: total ? load.errors / total : 0, byStatus: load.byStatus },
    };
    if (before && after) {
      const batches = after.batches - before.batches;
      const served = after.batchedRequests - before.batchedRequests;
      result.server = {
        batches,
        meanBatchSize: batches ? served / batches : 0,
        queueMs: served ? (after.queueMsTotal - before.queueMsTotal) / served : 0,
        computeMs: batches ? (after.computeMsTotal - before.computeMsTotal) / batches : 0,
      };
    }
    let checks = checkAssertions(result, asserts);
    if (base) checks = [...checks, ...compareBaseline(result, base, maxRegression)];
    this.say(table(['METRIC', 'VALUE'], summaryRows(result)));
    if (process.env.GITHUB_STEP_SUMMARY) appendFileSync(process.env.GITHUB_STEP_SUMMARY, markdownSummary(result, checks, warnings));
    const failed = checks.filter((c) => !c.ok);
    if (checks.length) {
      this.say('');
      this.say(table(['CHECK', 'ACTUAL', 'LIMIT', 'RESULT'], checks.map((c) => [c.assertion, `${c.actual.toFixed(2)} ${c.unit}`, `${c.limit.toFixed(2)} ${c.unit}`, c.ok ? 'pass' : 'FAIL'])));
    }
    const out = { ...result, checks, warnings };
    if (failed.length) {
      if (this.jsonEnabled()) this.logJson({ ...out, error: `${failed.length} of ${checks.length} check(s) failed`, code: 'CHECK_FAILED' });
      else process.stderr.write(`Error: ${failed.length} of ${checks.length} check(s) failed\n`);
      this.exit(1);
    }
    return out;
  }
}
