// Capture files as the daemon writes them (src/monitor/capture-schema.ts), made with hyparquet-writer
// so that drift tests do not depend on the daemon's capture side.
import { mkdirSync, renameSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { captureDir, captureFileName, inputColumn, META_COLUMNS, outputColumn } from '../../src/monitor/capture-schema.js';
import { mulberry32 } from '../../src/models/zoo.js';

export interface CaptureRows {
  /** One time per row (ms since the epoch). */
  timestamps: number[];
  deployment?: string;
  /** Feature name -> values (numbers: DOUBLE, strings: STRING; null = missing). */
  inputs: Record<string, Array<number | string | null>>;
  outputs?: Record<string, Array<number | string | null>>;
}

/** Write one capture file (tmp + rename) and set its mtime to its last row's time; returns its path. */
export function writeCaptureFile(home: string, endpoint: string, rows: CaptureRows, seq = 0): string {
  const n = rows.timestamps.length;
  const dir = captureDir(home, endpoint);
  mkdirSync(dir, { recursive: true });
  const meta: Record<string, unknown[]> = {
    timestamp: rows.timestamps.map((t) => new Date(t)),
    request_id: rows.timestamps.map((_, i) => `req-${seq}-${Math.floor(i / 2)}`),
    row: rows.timestamps.map((_, i) => i % 2),
    endpoint: new Array(n).fill(endpoint),
    deployment: new Array(n).fill(rows.deployment ?? `${endpoint}-v1`),
    model_version: new Array(n).fill('1'),
    latency_ms: rows.timestamps.map((_, i) => 1 + (i % 5) / 10),
  };
  const columnData = META_COLUMNS.map((c) => ({ name: c.name, data: meta[c.name]!, type: c.type }));
  const add = (name: string, values: Array<number | string | null>) => {
    const numeric = values.every((v) => v === null || typeof v === 'number');
    columnData.push({ name, data: numeric ? values.map((v) => (v === null ? null : v)) : values, type: numeric ? 'DOUBLE' : 'STRING' } as never);
  };
  for (const [k, v] of Object.entries(rows.inputs)) add(inputColumn(k), v);
  for (const [k, v] of Object.entries(rows.outputs ?? {})) add(outputColumn(k), v);
  const name = captureFileName(new Date(rows.timestamps[0] ?? Date.now()), seq);
  const tmp = join(dir, `.${name}.tmp`);
  parquetWriteFile({ filename: tmp, columnData });
  const final = join(dir, name);
  renameSync(tmp, final);
  const last = Math.max(...rows.timestamps) / 1000;
  utimesSync(final, last, last);
  return final;
}

/** A seeded RNG (mulberry32) and normal draws (Box-Muller). */
export function rng(seed: number): { uniform: () => number; normal: (mean?: number, sd?: number) => number } {
  const uniform = mulberry32(seed);
  const normal = (mean = 0, sd = 1) => mean + sd * Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}
