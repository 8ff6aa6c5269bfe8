// wrk (Debian's package: `apt-get install wrk`) as the suite's load generator when it is installed: a
// C event loop that reaches 4-5x the built-in generator's ceiling on this machine, so the servers,
// not the generator, are what a row measures. A Lua script posts one fixed body (read from a file,
// binary-safe) and prints the run's summary as one JSON line, which parseWrkReport reads.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { request } from 'undici';
import type { RequestSpec } from './load.js';
import type { Row } from './suite-report.js';

export const WRK_GENERATOR = 'wrk 4 (1 thread, keep-alive, closed loop)';
export const WRK_INSTALL_HINT = 'install wrk for a load generator that is not the bottleneck: apt-get install wrk';

const MARK = 'MLSERVE_WRK ';

/** Posts the body in $MLSERVE_WRK_BODY; at the end, prints one JSON line with counts and latency (microseconds). */
const SCRIPT = `
local f = assert(io.open(os.getenv("MLSERVE_WRK_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('${MARK}{"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50Us":%.0f,"p90Us":%.0f,"p99Us":%.0f,"maxUs":%.0f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;

export interface WrkReport {
  requests: number;
  durationUs: number;
  connect: number;
  read: number;
  write: number;
  /** Responses with a status of 400 or more. */
  status: number;
  timeout: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
}

/** The report line in wrk's output, or an error that quotes the output. PURE. */
export function parseWrkReport(stdout: string): WrkReport {
  const line = stdout.split('\n').find((l) => l.startsWith(MARK));
  if (!line) throw new Error(`wrk printed no report line:\n${stdout.slice(-2000)}`);
  const r = JSON.parse(line.slice(MARK.length)) as WrkReport;
  for (const k of ['requests', 'durationUs', 'p50Us', 'p99Us'] as const) {
    if (typeof r[k] !== 'number' || !Number.isFinite(r[k])) throw new Error(`wrk report has no number for ${k}: ${line}`);
  }
  return r;
}

/**
 * A report as a table row: requests that got an answer under 400 per second, and the errors
 * (connection errors, timeouts and 4xx/5xx answers). wrk counts a request with a 4xx/5xx answer in
 * `requests` and in `status`; its latency histogram holds every answered request. PURE.
 */
export function wrkRow(r: WrkReport): Row {
  const errors = r.connect + r.read + r.write + r.timeout + r.status;
  const ok = Math.max(0, r.requests - r.status);
  return { throughput: r.durationUs > 0 ? ok / (r.durationUs / 1e6) : 0, p50Ms: r.p50Us / 1000, p99Ms: r.p99Us / 1000, errors };
}

/** The wrk command line for one run. PURE. */
export function wrkArgs(url: string, request: RequestSpec, connections: number, seconds: number, script: string): string[] {
  const args = ['-t1', `-c${connections}`, `-d${Math.max(1, Math.round(seconds))}s`, '--timeout', '60s', '-s', script];
  for (const [k, v] of Object.entries(request.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(`${url}${request.path}`);
  return args;
}

let installed: boolean | undefined;
/** Is `wrk` on PATH? */
export function wrkInstalled(): boolean {
  if (installed === undefined) {
    try {
      execFileSync('wrk', ['-v'], { stdio: 'ignore' });
      installed = true;
    } catch (err) {
      // `wrk -v` prints its version and exits 1: it ran.
      installed = (err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as { status?: number }).status !== undefined;
    }
  }
  return installed;
}

async function drain(url: string, r: RequestSpec): Promise<void> {
  const res = await request(`${url}${r.path}`, { method: 'POST', headers: r.headers, body: r.body, headersTimeout: 300_000, bodyTimeout: 300_000 });
  await res.body.dump();
}

/** A warm-up run (not counted), then the measured one; the row of the measured run. */
export async function runWrk(url: string, request: RequestSpec, connections: number, t: { durationMs: number; warmupMs: number }): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'mlserve-wrk-'));
  try {
    const script = join(dir, 'post.lua');
    const body = join(dir, 'body');
    writeFileSync(script, SCRIPT);
    writeFileSync(body, request.body ?? Buffer.alloc(0));
    const env = { ...process.env, MLSERVE_WRK_BODY: body };
    if (t.warmupMs > 0) {
      await execa('wrk', wrkArgs(url, request, connections, t.warmupMs / 1000, script), { env });
      // wrk closes its connections with requests in flight; most servers still compute those. One
      // request answered after them (they queue first) keeps that backlog out of the measured run.
      await drain(url, request);
    }
    const r = await execa('wrk', wrkArgs(url, request, connections, t.durationMs / 1000, script), { env });
    return wrkRow(parseWrkReport(String(r.stdout)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
