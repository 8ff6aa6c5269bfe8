// CSV as the drift report reads a reference (PURE): RFC 4180 quoting ("a, b", "say ""hi"""), CRLF
// or LF, a header row naming the columns; a column whose present cells all parse as numbers is
// numeric, anything else categorical; an empty cell is missing.
import { toColumn, type Table } from './table.js';

/** The records of a CSV text (fields unquoted). Throws on an unterminated quote. */
export function parseCsvRecords(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let i = 0;
  let quoted = false;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += ch;
      continue;
    }
    if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      record.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      record.push(field);
      records.push(record);
      record = [];
      field = '';
    } else field += ch;
  }
  if (quoted) throw new Error('a quoted field is not closed (a " without its closing ")');
  if (field !== '' || record.length > 0) {
    record.push(field);
    records.push(record);
  }
  return records.filter((r) => !(r.length === 1 && r[0] === ''));
}

const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|infinity|nan)$/i;

/** A cell as a number when it reads as one (also inf and nan), else null. */
function numberOf(cell: string): number | null {
  const t = cell.trim();
  if (!NUMBER_RE.test(t)) return null;
  const l = t.toLowerCase().replace(/^\+/, '');
  if (l === 'nan' || l === '-nan') return Number.NaN;
  if (l === 'inf' || l === 'infinity') return Number.POSITIVE_INFINITY;
  if (l === '-inf' || l === '-infinity') return Number.NEGATIVE_INFINITY;
  return Number(t);
}

/** Does the first record look like a header (no cell reads as a number, no empty name, no repeats)? */
export function looksLikeHeader(first: readonly string[]): boolean {
  return first.length > 0 && first.every((c) => c.trim() !== '' && numberOf(c) === null) && new Set(first).size === first.length;
}

/** A CSV text as a Table. Throws (with what is wrong) when there is no header row or a row has the wrong width. */
export function parseCsv(text: string): Table {
  const records = parseCsvRecords(text);
  if (records.length === 0) throw new Error('the file is empty');
  const header = records[0]!;
  if (!looksLikeHeader(header)) {
    throw new Error(`its first line (${header.slice(0, 4).join(',')}${header.length > 4 ? ',...' : ''}) is not a header: the first line must name the columns, each once`);
  }
  const rows = records.slice(1);
  rows.forEach((r, i) => {
    if (r.length !== header.length) throw new Error(`line ${i + 2} has ${r.length} fields, the header ${header.length}`);
  });
  const columns = header.map((name, j) => {
    const cells = rows.map((r) => r[j]!);
    const nums = cells.map((c) => (c.trim() === '' ? null : numberOf(c)));
    const numeric = cells.every((c, k) => c.trim() === '' || nums[k] !== null);
    return toColumn(name.trim(), numeric ? nums : cells.map((c) => (c.trim() === '' ? null : c)));
  });
  return { rows: rows.length, columns };
}
