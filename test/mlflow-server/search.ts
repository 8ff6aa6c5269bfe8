// registered-models/search and model-versions/search: the filter grammar MLflow accepts there
// (mlflow/utils/search_utils.py SearchModelUtils / SearchModelVersionUtils, simplified to
// `<key> <op> <value> [AND ...]`), order_by with MLflow's tie-breakers, and MLflow's page tokens
// (base64 of json.dumps({"offset": N})).
import type { ModelVersion, RegisteredModel, Tag } from './entities.js';
import { MlflowError } from './http.js';
import type { MlflowState } from './state.js';

const INVALID = 'INVALID_PARAMETER_VALUE';

interface Clause {
  type: 'attribute' | 'tag';
  key: string;
  op: string;
  value: string | string[];
}

const unquote = (s: string) => (/^(['"`]).*\1$/s.test(s) ? s.slice(1, -1) : s);

/** Split on AND outside quotes and parentheses. */
function splitAnd(filter: string): string[] {
  const parts: string[] = [];
  let depth = 0, quote = '', start = 0;
  for (let i = 0; i < filter.length; i++) {
    const c = filter[i];
    if (quote) { if (c === quote) quote = ''; continue; }
    if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0 && /^\sAND\s/i.test(filter.slice(i, i + 5))) {
      parts.push(filter.slice(start, i));
      start = i + 5;
      i += 3;
    }
  }
  parts.push(filter.slice(start));
  return parts.map((p) => p.trim());
}

const CLAUSE = /^((?:tags?|attributes?|attr)\.)?(`[^`]+`|"[^"]+"|[\w.]+)\s*(!=|<>|>=|<=|=|>|<|\bNOT\s+IN\b|\bIN\b|\bILIKE\b|\bLIKE\b)\s*(.+)$/is;

function parseFilter(filter: string | undefined, validKeys: string[], keysRepr: string): Clause[] {
  if (!filter || !filter.trim()) return [];
  return splitAnd(filter).map((text) => {
    const m = CLAUSE.exec(text);
    if (!m) throw new MlflowError(`Invalid filter '${filter}'. Could not be parsed.`, INVALID);
    const [, prefix, rawKey, rawOp, rawValue] = m;
    const key = unquote(rawKey);
    const op = rawOp.toUpperCase().replace(/\s+/g, ' ');
    const type = prefix && /^tags?\.$/i.test(prefix) ? 'tag' : 'attribute';
    if (type === 'attribute' && !validKeys.includes(key)) {
      throw new MlflowError(`Invalid attribute key '${key}' specified. Valid keys are '${keysRepr}'`, INVALID);
    }
    let value: string | string[];
    const v = rawValue.trim();
    if (op === 'IN' || op === 'NOT IN') {
      if (!/^\(.*\)$/s.test(v)) throw new MlflowError(`While parsing a list in the query, expected a non-empty list of string values, but got ${v}`, INVALID);
      value = v.slice(1, -1).split(',').map((x) => unquote(x.trim()));
    } else if (/^(['"]).*\1$/s.test(v)) value = v.slice(1, -1);
    else if (key === 'version_number' && /^\d+$/.test(v)) value = v;
    else throw new MlflowError(`Invalid filter '${filter}'. Could not be parsed.`, INVALID);
    return { type, key, op, value };
  });
}

function likeRegex(pattern: string, flags: string): RegExp {
  const body = pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*').replace(/_/g, '.');
  return new RegExp(`^${body}$`, `s${flags}`);
}

function compare(actual: string | number | undefined, op: string, value: string | string[]): boolean {
  if (actual === undefined) return false;
  const a = String(actual);
  switch (op) {
    case '=': return a === value;
    case '!=': case '<>': return a !== value;
    case 'LIKE': return likeRegex(value as string, '').test(a);
    case 'ILIKE': return likeRegex(value as string, 'i').test(a);
    case 'IN': return (value as string[]).includes(a);
    case 'NOT IN': return !(value as string[]).includes(a);
    default: {
      const [x, y] = [Number(actual), Number(value)];
      return op === '>' ? x > y : op === '>=' ? x >= y : op === '<' ? x < y : x <= y;
    }
  }
}

function matches(tags: Tag[], attr: (key: string) => string | number | undefined, clauses: Clause[]): boolean {
  return clauses.every((c) => compare(c.type === 'tag' ? tags.find((t) => t.key === c.key)?.value : attr(c.key), c.op, c.value));
}

type Sorter<T> = [(x: T) => string | number, boolean];

function parseOrderBy<T>(orderBy: string[], fields: Record<string, (x: T) => string | number>, keysRepr: string): Map<string, Sorter<T>> {
  const out = new Map<string, Sorter<T>>();
  for (const clause of orderBy) {
    const m = /^\s*(`[^`]+`|[\w.]+)(?:\s+(ASC|DESC))?\s*$/i.exec(clause);
    const key = m ? unquote(m[1]).replace(/^attributes?\./, '') : clause;
    if (!m || !fields[key]) throw new MlflowError(`Invalid order by key '${key}' specified. Valid keys are ${keysRepr}`, INVALID);
    if (out.has(key)) throw new MlflowError(`\`order_by\` contains duplicate fields: [${orderBy.map((o) => `'${o}'`).join(', ')}]`);
    out.set(key, [fields[key], (m[2] ?? 'ASC').toUpperCase() === 'ASC']);
  }
  return out;
}

function sortBy<T>(items: T[], sorters: Sorter<T>[]): T[] {
  return [...items].sort((a, b) => {
    for (const [get, asc] of sorters) {
      const [x, y] = [get(a), get(b)];
      if (x !== y) return (x < y ? -1 : 1) * (asc ? 1 : -1);
    }
    return 0;
  });
}

/** SearchUtils.parse_start_offset_from_page_token */
function parsePageToken(token: string | undefined): number {
  if (!token) return 0;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(token) || token.length % 4 !== 0) {
    throw new MlflowError('Invalid page token, could not base64-decode', INVALID);
  }
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoded);
  } catch {
    throw new MlflowError(`Invalid page token, decoded value=b'${decoded}'`, INVALID);
  }
  const offset = (parsed as { offset?: unknown } | null)?.offset;
  if (!offset) throw new MlflowError(`Invalid page token, parsed value=${decoded}`, INVALID);
  const n = Number(offset);
  if (!Number.isInteger(n)) throw new MlflowError(`Invalid page token, not stringable ${String(offset)}`, INVALID);
  return n;
}

/** SearchUtils.create_page_token: base64 of Python's json.dumps({"offset": N}). */
export const createPageToken = (offset: number): string => Buffer.from(`{"offset": ${offset}}`).toString('base64');

function page<T>(items: T[], maxResults: number, pageToken: string | undefined): { items: T[]; next?: string } {
  const offset = parsePageToken(pageToken);
  const slice = items.slice(offset, offset + maxResults + 1);
  return { items: slice.slice(0, maxResults), next: slice.length === maxResults + 1 ? createPageToken(offset + maxResults) : undefined };
}

function checkMaxResults(maxResults: number, threshold: number): void {
  if (!Number.isInteger(maxResults) || maxResults < 1) {
    throw new MlflowError(`Invalid value for max_results. It must be a positive integer, but got ${maxResults}`, INVALID);
  }
  if (maxResults > threshold) {
    throw new MlflowError(`Invalid value for request parameter max_results. It must be at most ${threshold}, but got value ${maxResults}`, INVALID);
  }
}

export function searchRegisteredModels(
  state: MlflowState,
  opts: { filter?: string; maxResults?: number; orderBy?: string[]; pageToken?: string },
): { items: RegisteredModel[]; next?: string } {
  const maxResults = opts.maxResults ?? 100;
  checkMaxResults(maxResults, 1000);
  const clauses = parseFilter(opts.filter, ['name'], "{'name'}");
  const fields: Record<string, (rm: RegisteredModel) => string | number> = {
    name: (rm) => rm.name,
    creation_timestamp: (rm) => rm.creation_timestamp,
    timestamp: (rm) => rm.creation_timestamp,
    last_updated_timestamp: (rm) => rm.last_updated_timestamp,
  };
  const sorters = parseOrderBy(opts.orderBy ?? [], fields, "['name', 'creation_timestamp', 'timestamp', 'last_updated_timestamp']");
  if (!sorters.has('name')) sorters.set('name', [fields.name, true]);
  const found = [...state.registeredModels.values()].filter((rm) => matches(rm.tags, (k) => (k === 'name' ? rm.name : undefined), clauses));
  return page(sortBy(found, [...sorters.values()]), maxResults, opts.pageToken);
}

export function searchModelVersions(
  state: MlflowState,
  opts: { filter?: string; maxResults?: number; orderBy?: string[]; pageToken?: string },
): { items: ModelVersion[]; next?: string } {
  const maxResults = opts.maxResults ?? 200_000;
  checkMaxResults(maxResults, 200_000);
  const clauses = parseFilter(opts.filter, ['run_id', 'source_path', 'name', 'version_number'], "{'run_id', 'source_path', 'name', 'version_number'}");
  const fields: Record<string, (mv: ModelVersion) => string | number> = {
    name: (mv) => mv.name,
    version_number: (mv) => mv.version,
    creation_timestamp: (mv) => mv.creation_timestamp,
    last_updated_timestamp: (mv) => mv.last_updated_timestamp,
  };
  const orderBy = opts.orderBy?.length ? opts.orderBy : ['last_updated_timestamp DESC', 'name ASC', 'version_number DESC'];
  const sorters = parseOrderBy(orderBy, fields, "{'name', 'version_number', 'creation_timestamp', 'last_updated_timestamp'}");
  if (!sorters.has('name')) sorters.set('name', [fields.name, true]);
  if (!sorters.has('version_number')) sorters.set('version_number', [fields.version_number, false]);
  const attr = (mv: ModelVersion) => (k: string) =>
    k === 'name' ? mv.name : k === 'run_id' ? mv.run_id : k === 'source_path' ? mv.source : k === 'version_number' ? mv.version : undefined;
  const found = state.modelVersions.filter((mv) => mv.current_stage !== 'Deleted_Internal' && matches(mv.tags, attr(mv), clauses));
  return page(sortBy(found, [...sorters.values()]), maxResults, opts.pageToken);
}
