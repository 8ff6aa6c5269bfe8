// Reading the reference data set of a drift report: a CSV file (csv.ts) or a Parquet file (hyparquet).
// Every failure is an MlserveError that names the file and what to do.
import { readFile, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
import { MlserveError } from '../../errors.js';
import { parseCsv } from './csv.js';
import { toColumn, type Table } from './table.js';
import { float32Decimal } from '../capture-schema.js';

/** Every row of a Parquet file as a Table (the columns in file order). Throws what hyparquet says. */
export async function readParquetTable(path: string): Promise<Table> {
  const file = await asyncBufferFromFile(path);
  const metadata = await parquetMetadataAsync(file);
  const children = parquetSchema(metadata).children.map((c) => c.element);
  const rows = (await parquetReadObjects({ file, metadata })) as Array<Record<string, unknown>>;
  // FLOAT (32-bit) values as the decimals they were written from (capture-schema.ts).
  const value = (float: boolean) => (v: unknown) => (float && typeof v === 'number' ? float32Decimal(v) : v);
  return { rows: rows.length, columns: children.map((c) => toColumn(c.name, rows.map((r) => r[c.name]).map(value(c.type === 'FLOAT')))) };
}

/** The reference file (.csv, or .parquet/.pq; other names are read by their first bytes). */
export async function readReference(path: string): Promise<Table> {
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new MlserveError('USAGE', `--reference ${path} is not a file: pass a CSV or Parquet file`);
    size = st.size;
  } catch (err) {
    if (err instanceof MlserveError) throw err;
    throw new MlserveError('USAGE', `--reference ${path}: no such file (${(err as NodeJS.ErrnoException).code ?? 'unreadable'}): pass the path of the training data as CSV or Parquet`);
  }
  const buf = await readFile(path);
  const parquet = ['.parquet', '.pq'].includes(extname(path).toLowerCase()) || (size >= 8 && buf.subarray(0, 4).toString('latin1') === 'PAR1');
  let table: Table;
  try {
    table = parquet ? await readParquetTable(path) : parseCsv(buf.toString('utf8'));
  } catch (err) {
    const what = parquet ? 'is not a readable Parquet file' : 'is not a CSV file mlserve can read';
    throw new MlserveError('USAGE', `--reference ${path} ${what}: ${(err as Error).message}; pass a CSV with a header row or a Parquet file`);
  }
  if (table.rows === 0) throw new MlserveError('USAGE', `--reference ${path} has no rows: pass the data the model was trained on`);
  return table;
}
