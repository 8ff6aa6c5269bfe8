// Captured requests -> one Parquet file's bytes (hyparquet-writer, Snappy pages), built column by
// column: the meta columns typed as the capture schema says, then every feature and output column
// seen, in first-seen order: FLOAT when the tensor was FP32/FP16, DOUBLE when every value is a
// number, else STRING (numbers written as text); a request without a column has null there. Numbers
// are PLAIN-encoded (measured floats rarely repeat: trying a dictionary costs more than it saves).
// PURE: bytes in memory, the caller writes them.
import { parquetWriteBuffer } from 'hyparquet-writer';
import { META_COLUMNS } from '../../monitor/capture-schema.js';
import type { CaptureRecord, Cell, Cols, Row } from './rows.js';

type ColumnSource = Parameters<typeof parquetWriteBuffer>[0]['columnData'][number];
type DataType = 'FLOAT' | 'DOUBLE' | 'STRING';

/** Rows of many requests, kept as columns. */
export class CaptureTable {
  n = 0;
  records = 0;
  private readonly meta = { timestamp: [] as Date[], request_id: [] as string[], row: [] as number[], endpoint: [] as string[], deployment: [] as string[], model_version: [] as string[], latency_ms: [] as number[] };
  private readonly columns = new Map<string, Cell[]>();
  readonly float32 = new Set<string>();
  readonly skipped = new Set<string>();

  add(rec: Pick<CaptureRecord, 'ts' | 'requestId' | 'endpoint' | 'deployment' | 'version' | 'latencyMs'>, c: Cols, firstRow = 0): void {
    const at = new Date(rec.ts);
    for (let r = 0; r < c.n; r++) {
      this.meta.timestamp.push(at);
      this.meta.request_id.push(rec.requestId);
      this.meta.row.push(firstRow + r);
      this.meta.endpoint.push(rec.endpoint);
      this.meta.deployment.push(rec.deployment);
      this.meta.model_version.push(rec.version);
      this.meta.latency_ms.push(rec.latencyMs);
    }
    for (const [name, values] of c.columns) {
      let col = this.columns.get(name);
      if (!col) this.columns.set(name, (col = []));
      while (col.length < this.n) col.push(null); // rows of earlier requests without this column
      for (const v of values) col.push(v);
    }
    for (const f of c.float32) this.float32.add(f);
    for (const s of c.skipped) this.skipped.add(s);
    this.n += c.n;
    this.records++;
  }

  /** The feature/output columns with their types, each padded to n. */
  typed(): Array<[string, DataType, Cell[]]> {
    return [...this.columns].map(([name, values]) => {
      while (values.length < this.n) values.push(null);
      const numeric = values.every((v) => v === null || typeof v === 'number');
      return [name, numeric ? (this.float32.has(name) ? 'FLOAT' : 'DOUBLE') : 'STRING', values];
    });
  }

  bytes(metadata: Record<string, string> = {}): Uint8Array {
    const columnData: ColumnSource[] = META_COLUMNS.map((c) => ({ name: c.name, type: c.type, data: this.meta[c.name] }));
    for (const [name, type, values] of this.typed()) {
      columnData.push(type === 'STRING'
        ? { name, type, data: values.map((v) => (v === null ? null : String(v))) }
        : { name, type, data: values, encoding: 'PLAIN' });
    }
    const buf = parquetWriteBuffer({ columnData, kvMetadata: Object.entries(metadata).map(([key, value]) => ({ key, value })), createdBy: 'mlserve capture', statistics: false });
    return new Uint8Array(buf);
  }
}

/** The feature/output columns of rows, in first-seen order, with their types (tests and small tables). */
export function columnTypes(rows: readonly Row[], float32: ReadonlySet<string> = new Set()): Array<[string, DataType]> {
  return tableOf(rows, float32).typed().map(([name, type]) => [name, type]);
}

/** Rows (from captureRows) -> Parquet bytes. */
export function parquetBytes(rows: readonly Row[], metadata: Record<string, string> = {}, float32: ReadonlySet<string> = new Set()): Uint8Array {
  return tableOf(rows, float32).bytes(metadata);
}

const META_NAMES = new Set<string>(META_COLUMNS.map((c) => c.name));

function tableOf(rows: readonly Row[], float32: ReadonlySet<string>): CaptureTable {
  const t = new CaptureTable();
  for (const r of rows) {
    t.add(
      { ts: r.timestamp as number, requestId: String(r.request_id ?? ''), endpoint: String(r.endpoint ?? ''), deployment: String(r.deployment ?? ''), version: String(r.model_version ?? ''), latencyMs: Number(r.latency_ms ?? 0) },
      { n: 1, columns: Object.entries(r).filter(([k]) => !META_NAMES.has(k)).map(([k, v]) => [k, [v]]), float32: [...float32], skipped: [] },
      Number(r.row ?? 0),
    );
  }
  return t;
}
