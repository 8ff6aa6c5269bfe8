// The load generator behind `mlserve bench`: closed loop (N clients back to back) or open loop
// (constant arrival rate, latency counted from each request's *intended* send time, so a stalled
// server cannot hide its queue). Latencies go into an HDR histogram in microseconds.
import * as hdr from 'hdr-histogram-js';
import { Pool } from 'undici';

export interface RequestSpec {
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface LoadOptions {
  url: string;
  request: RequestSpec;
  durationMs: number;
  warmupMs: number;
  concurrency?: number;
  /** Requests per second (open loop). */
  rate?: number;
  /** Called about once a second while measuring. */
  onTick?: (t: { elapsedMs: number; ok: number; errors: number; p99Ms: number }) => void;
}

export interface LoadResult {
  ok: number;
  errors: number;
  byStatus: Record<string, number>;
  elapsedMs: number;
  histogram: hdr.Histogram;
}

function newHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const connections = opts.concurrency ?? Math.min(512, Math.max(8, Math.ceil((opts.rate ?? 100) / 20)));
  const pool = new Pool(opts.url, { connections, pipelining: 1, keepAliveTimeout: 10_000 });
  try {
    if (opts.warmupMs > 0) await phase(pool, opts, opts.warmupMs, false);
    return await phase(pool, opts, opts.durationMs, true);
  } finally {
    await pool.close();
  }
}

async function phase(pool: Pool, opts: LoadOptions, durationMs: number, measure: boolean): Promise<LoadResult> {
  const histogram = newHistogram();
  const byStatus: Record<string, number> = {};
  let ok = 0;
  let errors = 0;
  const start = performance.now();
  const end = start + durationMs;
  const { path, headers, body } = opts.request;

  const one = async (intended: number) => {
    let status = 'network';
    try {
      const res = await pool.request({ path, method: 'POST', headers, body });
      await res.body.dump();
      status = String(res.statusCode);
    } catch (err) {
      status = (err as NodeJS.ErrnoException).code ?? 'network';
    }
    if (!measure) return;
    if (status === '200') {
      ok++;
      histogram.recordValue(Math.max(1, Math.round((performance.now() - intended) * 1000)));
    } else {
      errors++;
      byStatus[status] = (byStatus[status] ?? 0) + 1;
    }
  };

  const ticker = measure && opts.onTick
    ? setInterval(() => opts.onTick!({ elapsedMs: performance.now() - start, ok, errors, p99Ms: histogram.getValueAtPercentile(99) / 1000 }), 1000)
    : undefined;
  try {
    if (opts.rate) {
      const interval = 1000 / opts.rate;
      const inflight = new Set<Promise<void>>();
      let i = 0;
      while (true) {
        const now = performance.now();
        if (now >= end) break;
        // Send every request whose intended time has come; latency counts from that time.
        while (start + i * interval <= now && start + i * interval < end) {
          const p = one(start + i * interval).finally(() => inflight.delete(p));
          inflight.add(p);
          i++;
        }
        const next = start + i * interval;
        await new Promise((r) => setTimeout(r, Math.max(0, Math.min(next, end) - performance.now())));
      }
      await Promise.all(inflight);
    } else {
      const workers = Array.from({ length: opts.concurrency ?? 1 }, async () => {
        while (performance.now() < end) await one(performance.now());
      });
      await Promise.all(workers);
    }
  } finally {
    if (ticker) clearInterval(ticker);
  }
  return { ok, errors, byStatus, elapsedMs: performance.now() - start, histogram };
}
