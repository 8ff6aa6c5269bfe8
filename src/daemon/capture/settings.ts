// Payload capture settings per endpoint (KServe's payload logging, mlserve's way): the share of
// requests recorded, where they go (Parquet files under $MLSERVE_HOME/capture/<endpoint>/, CloudEvents
// to a URL, or both), retention by size and age, and inputs never recorded. The control API takes the
// values as the operator typed them ("5%", "1gb", "7d"); this module reads and checks them. PURE.
import { parseSize } from '../../cli/format.js';
import { MlserveError } from '../../errors.js';

export interface CaptureSettings {
  /** Share of requests recorded, 0 < sample <= 1. */
  sample: number;
  /** Write Parquet files under $MLSERVE_HOME/capture/<endpoint>/. */
  files: boolean;
  /** Send each sampled request and response as CloudEvents (KServe's logger format) to this URL. */
  url: string | null;
  /** Retention: the endpoint's capture files never total more than this (oldest removed first). */
  maxBytes: number;
  /** Retention: files older than this are removed (seconds). */
  maxAgeS: number;
  /** Inputs (tensor or column names) never recorded: privacy, or size. */
  dropInputs: string[];
}

export const CAPTURE_DEFAULTS: Readonly<Omit<CaptureSettings, 'sample'>> = Object.freeze({
  files: true,
  url: null,
  maxBytes: 1024 ** 3,
  maxAgeS: 7 * 86_400,
  dropInputs: [],
});

const bad = (msg: string) => new MlserveError('BAD_REQUEST', msg);

/** "5%", "0.5%", "100%" or a fraction "0.05" -> 0.05. */
export function parseSample(v: unknown): number {
  const s = String(v ?? '').trim();
  const m = /^(\d+(?:\.\d+)?|\.\d+)(%?)$/.exec(s);
  const n = m ? Number(m[1]) / (m[2] ? 100 : 1) : NaN;
  if (!m || !(n > 0) || n > 1) {
    throw bad(`--sample '${s}' is not a share of requests; use a percentage from 0.01% to 100% (e.g. 5%) or a fraction in (0, 1]`);
  }
  return n;
}

/** "512kb", "64mb", "1gb", "2048" (bytes) -> bytes; at least 1 MiB (one file must fit). */
export function parseMaxBytes(v: unknown): number {
  const s = String(v ?? '').trim();
  let n: number;
  try {
    n = parseSize(s);
  } catch {
    throw bad(`--max-bytes '${s}' is not a size; use e.g. 500mb, 1gb, 20gb`);
  }
  if (n < 1024 ** 2) throw bad(`--max-bytes ${s} is below 1 MiB; a capture file of a few thousand rows would not fit`);
  return n;
}

/** "30m", "12h", "7d", "3600s" -> seconds; at least one minute. */
export function parseMaxAge(v: unknown): number {
  const s = String(v ?? '').trim();
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/.exec(s);
  if (!m) throw bad(`--max-age '${s}' is not a duration; use e.g. 90m, 12h, 7d`);
  const n = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as 's'];
  if (n < 60) throw bad(`--max-age ${s} is under a minute; files are written every few seconds, so keep at least 1m`);
  return n;
}

/** An http(s) URL with no credentials in it (they would be stored): the CloudEvents sink. */
export function parseSinkUrl(v: unknown): string {
  const s = String(v ?? '').trim();
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw bad(`--url '${s}' is not a URL; give the CloudEvents sink as http://host:port/path`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw bad(`--url ${s}: only http and https sinks are supported`);
  if (u.username || u.password) throw bad('--url must not hold a user or password: they would be stored in the daemon\'s database');
  return u.toString();
}

/** Input names to drop: "a,b" or ["a","b"]; names as in the model's signature. */
export function parseDropInputs(v: unknown): string[] {
  const list = Array.isArray(v) ? v.map(String) : String(v ?? '').split(',');
  const names = list.map((x) => x.trim()).filter(Boolean);
  for (const n of names) if (n.length > 256) throw bad(`--drop-inputs: '${n.slice(0, 40)}...' is longer than 256 characters`);
  return [...new Set(names)];
}

/** The control API's body -> settings, each field checked; unknown fields are refused (a typo would be silently ignored). */
export function parseCaptureSettings(body: Record<string, unknown>): CaptureSettings {
  const known = new Set(['sample', 'files', 'url', 'maxBytes', 'maxAge', 'dropInputs']);
  for (const k of Object.keys(body)) if (!known.has(k)) throw bad(`unknown capture setting '${k}' (known: ${[...known].join(', ')})`);
  if (body.sample === undefined) throw bad('capture on needs --sample, the share of requests to record (e.g. 5%)');
  const settings: CaptureSettings = {
    sample: parseSample(body.sample),
    files: body.files === undefined ? CAPTURE_DEFAULTS.files : body.files === true,
    url: body.url === undefined || body.url === null || body.url === '' ? null : parseSinkUrl(body.url),
    maxBytes: body.maxBytes === undefined ? CAPTURE_DEFAULTS.maxBytes : parseMaxBytes(body.maxBytes),
    maxAgeS: body.maxAge === undefined ? CAPTURE_DEFAULTS.maxAgeS : parseMaxAge(body.maxAge),
    dropInputs: body.dropInputs === undefined ? [] : parseDropInputs(body.dropInputs),
  };
  if (!settings.files && !settings.url) throw bad('capture with --no-files needs --url: otherwise the records would go nowhere');
  return settings;
}
