// What the `npm run bench` sections share: a daemon of their own (in a temporary MLSERVE_HOME, driven
// through the real CLI) and one measured load run turned into a table row.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { ControlClient } from '../cli/client.js';
import { homePaths } from '../home.js';
import { runLoad, type RequestSpec } from './load.js';
import type { Row } from './suite-report.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'run.js');

/** Which generator produced a row: the suite's own, for every server it compares. */
export const LOAD_GENERATOR = 'load.ts (undici Pool, closed loop)';

export const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

/** The machine a result was measured on, as every results JSON records it. */
export const machine = () => ({ cpus: cpus().length, cpu: cpus()[0]?.model ?? '?', memGiB: Math.round(totalmem() / 1024 ** 3), node: process.version });

/** Write bench/results/<file> (JSON) and, unless quick, the `name` section of BENCH.md (between its markers; appended when new). */
export function writeResults(file: string, data: unknown, name: string, section: string, quick: boolean): void {
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', file), `${JSON.stringify(data, null, 2)}\n`);
  if (quick) return;
  const md = join(ROOT, 'BENCH.md');
  const text = readFileSync(md, 'utf8');
  const block = `<!-- ${name}:start -->\n${section}\n<!-- ${name}:end -->`;
  const re = new RegExp(`<!-- ${name}:start -->[\\s\\S]*<!-- ${name}:end -->`);
  writeFileSync(md, re.test(text) ? text.replace(re, () => block) : `${text.trimEnd()}\n\n${block}\n`);
}

/** Stop a child started in its own process group (detached): TERM to the group, KILL after graceMs, then KILL what the leader left behind. */
export async function stopGroup(child: ChildProcess, graceMs: number): Promise<void> {
  if (!child.pid || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const group = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {}
  };
  group('SIGTERM');
  const t = setTimeout(() => group('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
  group('SIGKILL');
}

export interface Timing {
  durationMs: number;
  warmupMs: number;
}

/** One closed-loop run at `concurrency` connections: req/s, p50/p99 and errors of the measured part. */
export async function measure(url: string, request: RequestSpec, concurrency: number, t: Timing): Promise<Row> {
  const r = await runLoad({ url, request, durationMs: t.durationMs, warmupMs: t.warmupMs, concurrency });
  const h = r.histogram;
  return {
    throughput: r.ok / (r.elapsedMs / 1000),
    p50Ms: h.getValueAtPercentile(50) / 1000,
    p99Ms: h.getValueAtPercentile(99) / 1000,
    errors: r.errors,
  };
}

/** A daemon started by the suite, with its own MLSERVE_HOME (removed by stop()). */
export class Mlserve {
  readonly home = mkdtempSync(join(tmpdir(), 'mlserve-bench-'));
  url = '';
  private control?: ControlClient;
  /** `env` is added to this process's environment for every CLI call (and so for the daemon). */
  constructor(private readonly env: Record<string, string> = {}) {}
  async cli(args: string[]) {
    return execa(process.execPath, [BIN, ...args], { env: { ...this.env, MLSERVE_HOME: this.home } });
  }
  async start(flags: string[] = []) {
    this.url = JSON.parse(String((await this.cli(['daemon', 'start', '--port', '0', '--json', ...flags])).stdout)).ingress.url;
  }
  async deploy(file: string, endpoint: string, threads: number, batching: boolean) {
    await this.cli(['deploy', file, '--endpoint', endpoint, '--threads', String(threads), ...(batching ? [] : ['--max-batch-size', '1'])]);
  }
  /** The deployment's counters, read from the control API (a CLI process per read would cost a second). */
  async stats(endpoint: string) {
    this.control ??= new ControlClient(homePaths({ MLSERVE_HOME: this.home }).socket);
    const s = await this.control.call<{ deployments: Array<{ endpoint: string; stats: Record<string, number> }> }>('GET', '/v1/status');
    return s.deployments.find((d) => d.endpoint === endpoint)!.stats;
  }
  /**
   * Runs `fn` and returns what it returns plus, for the batches the endpoint ran meanwhile, the mean
   * requests per batch and the replica's mean compute time per batch (what it reports per result).
   */
  async withMeanBatch<T>(endpoint: string, fn: () => Promise<T>): Promise<{ value: T; meanBatch: number; computeMsPerBatch: number }> {
    const before = await this.stats(endpoint);
    const value = await fn();
    const after = await this.stats(endpoint);
    const batches = Math.max(1, after.batches - before.batches);
    return { value, meanBatch: (after.batchedRequests - before.batchedRequests) / batches, computeMsPerBatch: (after.computeMsTotal - before.computeMsTotal) / batches };
  }
  private stopped = false;
  async stop() {
    if (this.stopped) return;
    this.stopped = true;
    await this.cli(['daemon', 'stop']).catch(() => {});
    rmSync(this.home, { recursive: true, force: true });
  }
}
