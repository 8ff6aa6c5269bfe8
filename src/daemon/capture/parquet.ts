// Captured rows -> one Parquet file's bytes (hyparquet-writer, Snappy pages): the meta columns typed
// as the capture schema says, then every feature and output column seen in the rows, in first-seen
// order: DOUBLE when every value is a number, else STRING (numbers written as text). A row without a
// column has null there. PURE: bytes in memory, the caller writes them.
import { parquetWriteBuffer } from 'hyparquet-writer';
import { META_COLUMNS } from '../../monitor/capture-schema.js';
import type { Cell, Row } from './rows.js';

type ColumnSource = Parameters<typeof parquetWriteBuffer>[0]['columnData'][number];

const META = META_COLUMNS.map((c) => [c.name, c.type] as const);
const META_NAMES = new Set<string>(META.map(([n]) => n));

/** The feature/output columns of the rows, in first-seen order, each DOUBLE or STRING. */
export function columnTypes(rows: readonly Row[]): Array<[string, 'DOUBLE' | 'STRING']> {
  const seen = new Map<string, 'DOUBLE' | 'STRING'>();
  for (const r of rows) {
    for (const [k, v] of Object.entries(r)) {
      if (META_NAMES.has(k)) continue;
      const t = v === null || typeof v === 'number' ? 'DOUBLE' : 'STRING';
      if (!seen.has(k) || t === 'STRING') seen.set(k, seen.get(k) === 'STRING' ? 'STRING' : t);
    }
  }
  return [...seen];
}

const asString = (v: Cell | undefined) => (v === null || v === undefined ? null : String(v));

export function parquetBytes(rows: readonly Row[], metadata: Record<string, string> = {}): Uint8Array {
  const columnData: ColumnSource[] = META.map(([name, type]) => ({
    name, type,
    data: rows.map((r) => (name === 'timestamp' ? new Date(r.timestamp as number) : r[name] ?? null)),
  }));
  for (const [name, type] of columnTypes(rows)) {
    columnData.push({ name, type, data: rows.map((r) => (type === 'DOUBLE' ? (r[name] ?? null) : asString(r[name]))) });
  }
  const buf = parquetWriteBuffer({
    columnData,
    kvMetadata: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    createdBy: 'mlserve capture',
  });
  return new Uint8Array(buf);
}
