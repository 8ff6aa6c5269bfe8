// `node dist/bench/hardening.js [shed] [bigjson] [--quick] [--before]`: the two overload figures of issue 16,
// measured against a real daemon on this machine (load generator on the same cores):
//   shed:    successful req/s of a tiny MLP at 3,000 closed-loop connections vs at 1,000 (the queue
//            holds 1,000, so at 3,000 two thirds of the clients are refused over and over);
//   bigjson: latency of a 64-float request (its own endpoint) while four ~60 MB JSON requests are
//            read and parsed, against the same request on an idle daemon.
// Writes bench/results/<date>-hardening.json and the "Overload" section of BENCH.md.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg as osLoadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { execa } from 'execa';
import { Client, request } from 'undici';
import * as hdr from 'hdr-histogram-js';
import { saveModel } from '../models/graph-builder.js';
import { mlp } from '../models/zoo.js';
import { buildRequest } from './inputs.js';
import type { RequestSpec } from './load.js';
import { ingressLoopDelay } from './ingress-loop.js';

const QUICK = process.argv.includes('--quick');
/** A run of the code before the hardening, kept as bench/results/<date>-hardening-before.json for BENCH.md to compare with. */
const BEFORE = process.argv.includes('--before');
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'run.js');
const DIST = fileURLToPath(new URL('./', import.meta.url));
const log = (s: string) => process.stderr.write(`${s}\n`);
const which = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const runs = (name: string) => which.length === 0 || which.includes(name);

class Daemon {
  readonly home = mkdtempSync(join(tmpdir(), 'mlserve-bench-hardening-'));
  url = '';
  cli(args: string[]) {
    return execa(process.execPath, [BIN, ...args], { env: { MLSERVE_HOME: this.home }, reject: false });
  }
  async start(extra: string[]): Promise<void> {
    const r = await this.cli(['daemon', 'start', '--port', '0', '--json', ...extra]);
    if (r.exitCode !== 0) throw new Error(`daemon start: ${r.stdout} ${r.stderr}`);
    this.url = JSON.parse(String(r.stdout)).ingress.url;
  }
  async deploy(file: string, endpoint: string): Promise<void> {
    const r = await this.cli(['deploy', file, '--endpoint', endpoint]);
    if (r.exitCode !== 0) throw new Error(`deploy ${endpoint}: ${r.stderr}`);
  }
  async stop(): Promise<void> {
    await this.cli(['daemon', 'stop']);
    rmSync(this.home, { recursive: true, force: true });
  }
}

function modelFile(sizes: number[], name: string): string {
  return saveModel(mkdtempSync(join(tmpdir(), 'bench-model-')), mlp({ seed: 1, sizes }).builder.toBytes(), `${name}.onnx`);
}

interface ShedResult { connections: number; okPerSec: number; byStatus: Record<string, number>; p99Ms: number; okEachSecond: number[] }

/**
 * A closed loop over `connections` connections, one undici Client each (an undici Pool looks for a
 * free connection by walking all of them on every request: at 3,000 connections the generator
 * itself would eat the cores it shares with the daemon). Counts answers per second; requests still
 * held at the end (a refused connection waits out its Retry-After) are not waited for.
 */
async function closedLoop(url: string, req: RequestSpec, connections: number, seconds: number): Promise<{ okEachSecond: number[]; byStatus: Record<string, number>; histogram: hdr.Histogram }> {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
  const byStatus: Record<string, number> = {};
  const okEachSecond: number[] = [];
  let ok = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  const ticker = setInterval(() => {
    okEachSecond.push(ok);
    ok = 0;
  }, 1000);
  const clients = Array.from({ length: connections }, () => new Client(url, { pipelining: 1, keepAliveTimeout: 60_000 }));
  const loops = clients.map(async (client) => {
    while (performance.now() < end) {
      const t = performance.now();
      let status = 'network';
      try {
        const res = await client.request({ path: req.path, method: 'POST', headers: req.headers, body: req.body });
        await res.body.dump();
        status = String(res.statusCode);
      } catch (err) {
        status = (err as NodeJS.ErrnoException).code ?? 'network';
        await new Promise((r) => setTimeout(r, 10));
      }
      if (performance.now() > end) break;
      if (status === '200') {
        ok++;
        histogram.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
      } else byStatus[status] = (byStatus[status] ?? 0) + 1;
    }
  });
  await new Promise((r) => setTimeout(r, end - performance.now()));
  clearInterval(ticker);
  await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 100))]);
  await Promise.all(clients.map((c) => c.destroy().catch(() => {})));
  return { okEachSecond, byStatus, histogram };
}

/**
 * Phases in the order 1000, 3000, 3000, 1000 connections (a drift in the machine's load over the run
 * weighs on both sides alike); the ratio compares the means.
 */
async function shed(): Promise<{ rows: ShedResult[]; ratio: number; mean: Record<string, number> }> {
  const d = new Daemon();
  await d.start([]);
  // Opening 3,000 connections and warming the JIT take a few seconds: the warm-up covers them.
  const duration = QUICK ? 3000 : 6000;
  const warmup = QUICK ? 2000 : 3000;
  try {
    const sizes = [64, 256, 256, 10];
    await d.deploy(modelFile(sizes, 'mlp'), 'mlp');
    const req = buildRequest('mlp', mlp({ seed: 1, sizes }).signature, 1, 'json');
    const rows: ShedResult[] = [];
    for (const connections of QUICK ? [1000, 3000] : [1000, 3000, 3000, 1000]) {
      // One continuous run; the first `warmup` seconds (connections opening, the JIT warming) are not counted.
      const r = await closedLoop(d.url, req, connections, (warmup + duration) / 1000);
      const window = r.okEachSecond.slice(warmup / 1000, (warmup + duration) / 1000);
      const row = { connections, okPerSec: window.reduce((a, b) => a + b, 0) / window.length, byStatus: r.byStatus, p99Ms: r.histogram.getValueAtPercentile(99) / 1000, okEachSecond: r.okEachSecond };
      rows.push(row);
      log(`  ${connections} connections: ${row.okPerSec.toFixed(0)} ok req/s (each second: ${row.okEachSecond.join(' ')}), p99 ${row.p99Ms.toFixed(1)} ms, refused ${JSON.stringify(row.byStatus)}`);
      await new Promise((r) => setTimeout(r, 1500)); // let the refused connections' pauses end
    }
    const mean = Object.fromEntries([1000, 3000].map((c) => {
      const of = rows.filter((r) => r.connections === c);
      return [String(c), of.reduce((a, r) => a + r.okPerSec, 0) / of.length];
    }));
    return { rows, ratio: mean['3000']! / mean['1000']!, mean };
  } finally {
    await d.stop();
  }
}

/** A JSON inference body of about `bytes` bytes for a [rows, width] FP32 input. */
function bigBody(width: number, bytes: number): { body: Buffer; rows: number } {
  let s = 7;
  const next = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
  const row: string[] = [];
  for (let i = 0; i < width; i++) row.push((Math.round((next() * 2 - 1) * 1e6) / 1e6).toString());
  const rowText = row.join(',');
  const rows = Math.ceil(bytes / (rowText.length + 1));
  const text = `{"inputs":[{"name":"x","shape":[${rows},${width}],"datatype":"FP32","data":[${new Array(rows).fill(rowText).join(',')}]}]}`;
  return { body: Buffer.from(text), rows };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};

interface BigJsonResult {
  bodyBytes: number;
  idle: { p50Ms: number; p99Ms: number; maxMs: number; n: number };
  underLoad: { p50Ms: number; p99Ms: number; maxMs: number; n: number };
  bigMs: number[];
  bigStatus: number[];
  benchLoopMaxMs: number;
  /** The same four bodies into an ingress in this process (fake replica): its event loop's delay. */
  ingressLoop?: { p50Ms: number; p99Ms: number; maxMs: number; statuses: number[] };
}

async function bigjson(): Promise<BigJsonResult> {
  const d = new Daemon();
  // The JSON limit has its own flag since the hardening; an older daemon takes --max-body-size for both.
  await d.start(['--max-body-size', '128mb', '--max-json-body-size', '128mb']).catch(() => d.start(['--max-body-size', '128mb']));
  try {
    const width = 200_000;
    await d.deploy(modelFile([64, 16, 2], 'small'), 'small');
    await d.deploy(modelFile([width, 1], 'wide'), 'wide');
    const small = buildRequest('small', mlp({ seed: 1, sizes: [64, 16, 2] }).signature, 1, 'json');
    const { body } = bigBody(width, QUICK ? 20e6 : 60e6);
    log(`  big body: ${(body.length / 1e6).toFixed(1)} MB`);
    const probe = async () => {
      const t = performance.now();
      const res = await request(`${d.url}${small.path}`, { method: 'POST', headers: small.headers, body: small.body });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`small request: ${res.statusCode}`);
      return performance.now() - t;
    };
    const sample = async (until: () => boolean, out: number[]) => {
      while (!until()) {
        out.push(await probe());
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    for (let i = 0; i < 20; i++) await probe();
    const idle: number[] = [];
    const idleEnd = performance.now() + 2000;
    await sample(() => performance.now() > idleEnd, idle);

    // The four big bodies go from another process (so that sending them does not stall these probes);
    // the probes' own event loop delay is measured too, to tell client-side stalls apart.
    const file = join(mkdtempSync(join(tmpdir(), 'bench-body-')), 'body.json');
    writeFileSync(file, body);
    let done = false;
    const loaded: number[] = [];
    const lag = monitorEventLoopDelay({ resolution: 5 });
    lag.enable();
    const sender = execa(process.execPath, [join(DIST, 'post-bodies.js'), `${d.url}/v2/models/wide/infer`, file, '4']).finally(() => (done = true));
    await sample(() => done, loaded);
    lag.disable();
    const big = JSON.parse(String((await sender).stdout)) as Array<{ status: number; ms: number }>;
    // An ingress from before the hardening has no worker and parses here; its module may lack the options, not the function.
    const ingressLoop = await ingressLoopDelay(join(DIST, 'post-bodies.js'), file, width, 4).catch((err: Error) => {
      log(`  in-process ingress: ${err.message}`);
      return undefined;
    });
    rmSync(file, { force: true });
    const bigMs = big.map((b) => b.ms);
    const bigStatus = big.map((b) => b.status);
    const stats = (xs: number[]) => ({ p50Ms: pct(xs, 50), p99Ms: pct(xs, 99), maxMs: Math.max(...xs), n: xs.length });
    const r = { bodyBytes: body.length, idle: stats(idle), underLoad: stats(loaded), bigMs, bigStatus, benchLoopMaxMs: lag.max / 1e6, ingressLoop };
    log(`  idle: p50 ${r.idle.p50Ms.toFixed(1)} ms, max ${r.idle.maxMs.toFixed(1)} ms; while 4 big bodies are parsed: p50 ${r.underLoad.p50Ms.toFixed(1)} ms, p99 ${r.underLoad.p99Ms.toFixed(1)} ms, max ${r.underLoad.maxMs.toFixed(1)} ms (${r.underLoad.n} requests; the bench's own event loop lagged up to ${r.benchLoopMaxMs.toFixed(0)} ms); big: ${bigStatus.join(',')} in ${bigMs.map((m) => (m / 1000).toFixed(1)).join(', ')} s`);
    if (ingressLoop) log(`  the ingress thread's own event-loop delay (in-process ingress, fake replica): p50 ${ingressLoop.p50Ms.toFixed(1)} ms, p99 ${ingressLoop.p99Ms.toFixed(1)} ms, max ${ingressLoop.maxMs.toFixed(1)} ms (${ingressLoop.statuses.join(',')})`);
    return r;
  } finally {
    await d.stop();
  }
}

type Run = { date: string; shed?: Awaited<ReturnType<typeof shed>>; bigjson?: BigJsonResult; loadavg?: number[] };

/** The newest run marked as the code before the hardening (`--before`), if any, to compare with. */
function beforeRun(): { file: string; run: Run } | null {
  const dir = join(ROOT, 'bench', 'results');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('-hardening-before.json')).sort() : [];
  const file = files.at(-1);
  return file ? { file, run: JSON.parse(readFileSync(join(dir, file), 'utf8')) as Run } : null;
}

function benchSection(run: Run, file: string): string {
  const before = beforeRun();
  const cols = (f: (r: Run) => string) => `${(before ? f(before.run) : '').padStart(14)}${f(run).padStart(14)}`;
  const load = (r: Run) => (r.loadavg ? r.loadavg.map((l) => l.toFixed(1)).join('/') : '?');
  const lines = [
    '## Overload (issue 16): shedding load, big JSON bodies', '',
    `\`node dist/bench/hardening.js\` on this machine; the load generator shares the 2 cores with the daemon (the machine's load average was`
      + ` ${load(run)} at the start of this run)${before ? `; "before" is the code before the hardening (\`bench/results/${before.file}\`)` : ''}.`
      + ` This run: \`bench/results/${file}\`. A noisy, shared machine: compare rows of one run, and runs with care.`,
    '', '```',
    `${''.padEnd(58)}${before ? 'before'.padStart(14) : ''}${'this run'.padStart(14)}`,
  ];
  const row = (label: string, f: (r: Run) => string) => lines.push(`${label.padEnd(58)}${cols(f)}`);
  const conn = (r: Run, n: number) => r.shed?.rows.find((x) => x.connections === n);
  // Runs from before the ABBA order have one row per connection count.
  const okAt = (r: Run, n: number) => (r.shed?.mean?.[String(n)] ?? conn(r, n)?.okPerSec)?.toFixed(0) ?? '-';
  const refusedAt = (r: Run) => String(r.shed?.rows.filter((x) => x.connections === 3000).reduce((a, x) => a + (x.byStatus['503'] ?? 0), 0) ?? 0);
  if (run.shed) {
    lines.push('tiny MLP 64-256-256-10, closed loop, deployment queue 1000');
    row('  ok req/s at 1000 connections', (r) => okAt(r, 1000));
    row('  ok req/s at 3000 connections', (r) => okAt(r, 3000));
    row('  ratio 3000 / 1000 (target >= 0.80)', (r) => r.shed?.ratio.toFixed(2) ?? '-');
    row('  refused (503) at 3000 connections', refusedAt);
  }
  if (run.bigjson) {
    const b = (r: Run) => r.bigjson;
    lines.push(`64-float request (own endpoint), ms`);
    row('  idle daemon: p50 / max', (r) => (b(r) ? `${b(r)!.idle.p50Ms.toFixed(1)} / ${b(r)!.idle.maxMs.toFixed(0)}` : '-'));
    row(`  while four ${(run.bigjson.bodyBytes / 1e6).toFixed(0)} MB JSON bodies are parsed: p50`, (r) => b(r)?.underLoad.p50Ms.toFixed(1) ?? '-');
    row('    p99 (target < 50)', (r) => b(r)?.underLoad.p99Ms.toFixed(1) ?? '-');
    row('    max', (r) => b(r)?.underLoad.maxMs.toFixed(0) ?? '-');
    row("  the probe's own event-loop lag, max", (r) => (b(r)?.benchLoopMaxMs !== undefined ? b(r)!.benchLoopMaxMs.toFixed(0) : '-'));
    const il = (r: Run) => r.bigjson?.ingressLoop;
    row("  the ingress thread's event-loop delay meanwhile: p99", (r) => il(r)?.p99Ms.toFixed(1) ?? '-');
    row('    max  (in-process ingress, fake replica)', (r) => il(r)?.maxMs.toFixed(0) ?? '-');
    row('  the four big requests, slowest (s)', (r) => (b(r) ? (Math.max(...b(r)!.bigMs) / 1000).toFixed(1) : '-'));
  }
  lines.push('```');
  // Every full run kept in bench/results: on a shared machine one run is one sample.
  const dir = join(ROOT, 'bench', 'results');
  const all = readdirSync(dir).filter((f) => f.endsWith('-hardening.json')).sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Run & { loadavg?: number[] });
  const samples = all.filter((r) => r.shed || r.bigjson).map((r) => `${r.date.slice(0, 16)}Z: ${r.shed ? `ratio ${r.shed.ratio.toFixed(2)}` : 'ratio -'}, `
    + `${r.bigjson ? `p50/p99 ${r.bigjson.underLoad.p50Ms.toFixed(1)}/${r.bigjson.underLoad.p99Ms.toFixed(0)} ms` : 'big JSON -'} (load ${load(r)})`);
  if (samples.length > 1) lines.push('', `Every run kept in \`bench/results\`: ${samples.join('; ')}.`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const date = new Date().toISOString();
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
  const loadavg = osLoadavg();
  log(`mlserve hardening bench${QUICK ? ' (quick)' : ''}${BEFORE ? ' (before)' : ''}: ${machine.cpus} x ${machine.cpu}, load average ${loadavg.map((l) => l.toFixed(1)).join(' ')}`);
  const run: Run = { date, loadavg };
  if (runs('shed')) {
    log('== shed load: 1000 vs 3000 connections');
    run.shed = await shed();
    log(`  ratio ${run.shed.ratio.toFixed(2)}`);
  }
  if (runs('bigjson')) {
    log('== big JSON bodies');
    run.bigjson = await bigjson();
  }
  const file = `${date.replace(/[:.]/g, '-')}-hardening${QUICK ? '-quick' : ''}${BEFORE ? '-before' : ''}.json`;
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', file), `${JSON.stringify({ ...run, quick: QUICK, machine, loadavgAfter: osLoadavg() }, null, 2)}\n`);
  if (!QUICK && !BEFORE && run.shed && run.bigjson) {
    const md = join(ROOT, 'BENCH.md');
    const text = readFileSync(md, 'utf8');
    const section = `<!-- hardening:start -->\n${benchSection(run, file)}\n<!-- hardening:end -->`;
    const re = /<!-- hardening:start -->[\s\S]*<!-- hardening:end -->/;
    writeFileSync(md, re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${section}\n`);
  }
  log(`wrote bench/results/${file}`);
}

await main();
