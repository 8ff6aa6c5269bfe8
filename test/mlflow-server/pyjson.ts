// Python-compatible JSON and repr, so answers match MLflow byte for byte:
// - success bodies are `json.dumps(<dict>, indent=2)` (mlflow/utils/proto_json_utils.py::message_to_json),
// - error bodies are `json.dumps({"error_code", "message"})` (MlflowException.serialize_as_json),
// both with Python's defaults: ensure_ascii=True, separators (", ", ": ") / (",", ": ") when indented,
// floats printed with Python's repr (1.0 stays "1.0").

/** A double that must print the way Python prints a float (e.g. a metric value). */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** Python's `repr(float)`: shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expStr] = x.toExponential().split('e');
  const exp = Number.parseInt(expStr, 10);
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  let s: string;
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    s = `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  } else if (exp >= 0) {
    s = digits.length <= exp + 1 ? `${digits}${'0'.repeat(exp + 1 - digits.length)}.0` : `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  } else {
    s = `0.${'0'.repeat(-exp - 1)}${digits}`;
  }
  return neg ? `-${s}` : s;
}

const SHORT_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

/** A JSON string literal as Python's json module writes it with ensure_ascii=True. */
export function pyJsonString(s: string): string {
  // eslint-disable-next-line no-control-regex
  return `"${s.replace(/[\\"]|[^ -~]/g, (c) => SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;
}

/** `json.dumps(value)` (indent undefined) or `json.dumps(value, indent=N)`. Undefined members are skipped. */
export function pyJsonDumps(value: unknown, indent?: number): string {
  const write = (v: unknown, level: number): string => {
    if (v === null || v === undefined) return 'null';
    if (v instanceof PyFloat) return pyFloatRepr(v.value);
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (typeof v === 'number') return Number.isInteger(v) ? String(v) : pyFloatRepr(v);
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'string') return pyJsonString(v);
    const items: string[] = [];
    const isArray = Array.isArray(v);
    if (isArray) for (const item of v) items.push(write(item, level + 1));
    else
      for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
        if (item !== undefined) items.push(`${pyJsonString(k)}: ${write(item, level + 1)}`);
      }
    const [open, close] = isArray ? ['[', ']'] : ['{', '}'];
    if (items.length === 0) return `${open}${close}`;
    if (indent === undefined) return `${open}${items.join(', ')}${close}`;
    const pad = ' '.repeat(indent * (level + 1));
    return `${open}\n${pad}${items.join(`,\n${pad}`)}\n${' '.repeat(indent * level)}${close}`;
  };
  return write(value, 0);
}

/** Python's `repr()` of a JSON-decoded value (what an f-string shows for lists and dicts). */
export function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v instanceof PyFloat) return pyFloatRepr(v.value);
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : pyFloatRepr(v);
  if (typeof v === 'string') {
    const quote = v.includes("'") && !v.includes('"') ? '"' : "'";
    const body = v.replace(/[\\\n\r\t]/g, (c) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c] as string);
    return quote + (quote === "'" ? body.replace(/'/g, "\\'") : body) + quote;
  }
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  return `{${Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`)
    .join(', ')}}`;
}

/** Python's `str()`: like repr but strings are bare. */
export function pyStr(v: unknown): string {
  return typeof v === 'string' ? v : pyRepr(v);
}

/** Python's `type(value).__name__` for a JSON-decoded value. */
export function pyTypeName(v: unknown): string {
  if (v === null || v === undefined) return 'NoneType';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'string') return 'str';
  if (Array.isArray(v)) return 'list';
  return 'dict';
}

/** Python's `int(str)` acceptance (whitespace, sign, digit groups with `_`). */
export function pyIntLike(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) ? v : Math.trunc(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v !== 'string' || !/^\s*[+-]?\d+(_\d+)*\s*$/.test(v)) return undefined;
  return Number.parseInt(v.replace(/_/g, '').trim(), 10);
}
