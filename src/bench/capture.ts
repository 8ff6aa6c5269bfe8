// `node dist/bench/capture.js [--quick]`: what payload capture costs, measured against a real daemon on
// this machine (load generator on the same cores). A tiny MLP (64 features in, 10 out: a tabular
// model, so 74 captured columns per row) at 32 closed-loop connections, JSON requests of 4 rows, with
// capture off, at 5% and at 100%; the three runs interleaved over two rounds, the median of each kept,
// reported as ratios to "off". Also how many requests were recorded, dropped, and the bytes on disk.
// Writes bench/results/<date>-capture.json and the "Payload capture" section of BENCH.md.
import { loadavg } from 'node:os';
import { saveModel } from '../models/graph-builder.js';
import { mlp } from '../models/zoo.js';
import { buildRequest } from './inputs.js';
import { log, machine, measure, Mlserve, writeResults } from './suite-common.js';
import type { Row } from './suite-report.js';

const QUICK = process.argv.includes('--quick');
const TIMING = { durationMs: QUICK ? 2500 : 8000, warmupMs: QUICK ? 700 : 2000 };
const CONCURRENCY = 32;
const ROUNDS = 2;
const MODES = ['off', '5%', '100%'] as const;
type Mode = (typeof MODES)[number];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** PURE: the section of BENCH.md. */
export function captureSection(r: { date: string; file: string; rows: Record<Mode, Row>; capture: { written: number; dropped: number; bytes: number; files: number }; loadavg: number[] }): string {
  const off = r.rows.off;
  const line = (m: Mode) => {
    const x = r.rows[m];
    return `  capture ${m.padEnd(5)} ${x.throughput.toFixed(0).padStart(8)} ${(x.throughput / off.throughput).toFixed(2).padStart(8)} ${x.p99Ms.toFixed(2).padStart(9)} ${(x.p99Ms - off.p99Ms >= 0 ? '+' : '') + (x.p99Ms - off.p99Ms).toFixed(2).padStart(8)}`;
  };
  return [
    '## Payload capture (issue 18): what recording requests costs',
    '',
    `\`node dist/bench/capture.js\` on this machine, ${r.date} (load average ${r.loadavg.map((x) => x.toFixed(1)).join('/')} at the start): a tiny MLP (64 features in, 10 out) at ${CONCURRENCY} connections, JSON requests of 4 rows; each mode ran twice, interleaved, the median kept. Raw JSON: \`bench/results/${r.file}\`.`,
    '',
    '```',
    '                   req/s  vs off   p99 ms   vs off',
    ...MODES.map(line),
    `  recorded ${r.capture.written} requests (${r.capture.written * 4} rows) in ${r.capture.files} Parquet files, ${(r.capture.bytes / 1024 ** 2).toFixed(1)} MiB; dropped ${r.capture.dropped}`,
    '```',
  ].join('\n');
}

async function main() {
  const date = new Date().toISOString();
  const load0 = loadavg();
  const model = mlp({ seed: 1, sizes: [64, 256, 256, 10] });
  const d = new Mlserve();
  const file = saveModel(d.home, model.builder.toBytes(), 'mlp.onnx');
  try {
    await d.start();
    await d.deploy(file, 'tab', 1, true);
    const request = buildRequest('tab', model.signature, 4, 'json');
    const runs: Record<Mode, Row[]> = { off: [], '5%': [], '100%': [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of MODES) {
        if (mode === 'off') await d.cli(['capture', 'off', 'tab']).catch(() => undefined);
        else await d.cli(['capture', 'on', 'tab', '--sample', mode]);
        const row = await measure(d.url, request, CONCURRENCY, TIMING);
        log(`round ${round + 1} capture ${mode}: ${row.throughput.toFixed(0)} req/s, p99 ${row.p99Ms.toFixed(2)} ms, ${row.errors} errors`);
        runs[mode].push(row);
      }
    }
    await d.cli(['capture', 'on', 'tab', '--sample', '100%']);
    await new Promise((r) => setTimeout(r, 2500)); // the last flush
    const status = JSON.parse(String((await d.cli(['capture', 'status', '--json'])).stdout)).capture[0];
    await d.cli(['capture', 'off', 'tab']);
    const rows = Object.fromEntries(MODES.map((m) => [m, {
      throughput: median(runs[m].map((x) => x.throughput)), p50Ms: median(runs[m].map((x) => x.p50Ms)), p99Ms: median(runs[m].map((x) => x.p99Ms)),
      errors: runs[m].reduce((a, x) => a + x.errors, 0),
    }])) as Record<Mode, Row>;
    // Counters restart with each "capture on": the last one covers the last 100% run; files cover all.
    const capture = { written: status.written as number, dropped: Object.values(status.dropped as Record<string, number>).reduce((a, b) => a + b, 0), bytes: status.bytes as number, files: status.files as number };
    const out = `${date.replace(/[:.]/g, '-')}-capture${QUICK ? '-quick' : ''}.json`;
    const section = captureSection({ date, file: out, rows, capture, loadavg: load0 });
    log(section);
    writeResults(out, { date, quick: QUICK, machine: machine(), loadavg: load0, concurrency: CONCURRENCY, rows, runs, capture }, 'capture', section, QUICK);
    log(`wrote bench/results/${out}`);
  } finally {
    await d.stop();
  }
}

await main();
