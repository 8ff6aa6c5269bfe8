// How mlserve talks to an MLflow tracking server, read from the same environment variables as
// MLflow's own client (mlflow/environment_variables.py, utils/credentials.py, utils/request_utils.py),
// with the same precedence and validation. PURE apart from reading files named by the variables.
import { readFileSync } from 'node:fs';
import { stripUserinfo } from './credentials.js';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { MlserveError } from '../errors.js';

export interface RetryPolicy {
  /** Retries after the first try (MLFLOW_HTTP_REQUEST_MAX_RETRIES, default 7, below 10). */
  maxRetries: number;
  /** Sleep before retry n >= 2 is factor * 2^(n-1) s (MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR, default 2). */
  backoffFactor: number;
  /** Random extra sleep in [0, jitter) s (MLFLOW_HTTP_REQUEST_BACKOFF_JITTER, default 1). */
  backoffJitter: number;
  respectRetryAfter: boolean;
  /** Per request (MLFLOW_HTTP_REQUEST_TIMEOUT, default 120 s). */
  requestTimeoutMs: number;
  /** Everything a resolve + download may take, retries included (MLSERVE_REGISTRY_TIMEOUT, default 600 s). */
  totalBudgetMs: number;
}

export interface RestConfig {
  /** Tracking (or registry) server URL without a trailing slash; may carry a base path. */
  url: string;
  /** The Authorization header value, if any. */
  authorization?: string;
  /** Which variable the credentials came from, for error messages. */
  authSource?: string;
  tls: { rejectUnauthorized: boolean; ca?: string; cert?: string; key?: string };
  retry: RetryPolicy;
  /** The most bytes one model's download may write (MLSERVE_MAX_ARTIFACT_BYTES, default 64 GiB). */
  maxArtifactBytes: number;
}

/** Default of MLSERVE_MAX_ARTIFACT_BYTES: room for big models (~30B parameters in fp16), yet a bad registry cannot fill a disk. */
export const DEFAULT_MAX_ARTIFACT_BYTES = 64 * 1024 ** 3;

/** Statuses MLflow's client retries (request_utils: status_forcelist). */
export const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

const configError = (msg: string) => new MlserveError('MODEL_SOURCE', msg);

/** MLflow's boolean parsing: true/false/1/0, any case; anything else is an error. */
export function parseBool(name: string, raw: string | undefined, dflt: boolean): boolean {
  if (raw === undefined || raw === '') return dflt;
  const v = raw.toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw configError(`${name}=${raw} is not a boolean; use true, false, 1 or 0`);
}

function parseNumber(name: string, raw: string | undefined, dflt: number, below?: number): number {
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw configError(`${name}=${raw} is not a non-negative number`);
  if (below !== undefined && n >= below) throw configError(`${name}=${raw} must be below ${below}`);
  return n;
}

/**
 * A byte count: plain bytes, or a number with K, M, G or T (optionally followed by B or iB; all
 * binary, as MLSERVE_GPUS reads sizes: 64G = 64GB = 64GiB = 64 * 2^30).
 */
export function parseByteSize(name: string, raw: string | undefined, dflt: number): number {
  if (raw === undefined || raw.trim() === '') return dflt;
  const m = /^(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|b)?$/i.exec(raw.trim());
  const n = m ? Math.round(Number(m[1]) * 1024 ** ('kmgt'.indexOf((m[2] ?? ' ').toLowerCase()) + 1)) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw configError(`${name}=${raw} is not a size; use bytes or a number with K, M, G or T (e.g. 64G, 500MiB)`);
  return n;
}

/** `~/.mlflow/credentials`: an INI file with [mlflow] mlflow_tracking_username / _password. */
export function readCredentialsFile(text: string): { username?: string; password?: string } {
  const out: { username?: string; password?: string } = {};
  let section = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = sec[1].trim();
      continue;
    }
    const kv = /^([^=:]+)[=:](.*)$/.exec(line);
    if (!kv || section !== 'mlflow') continue;
    const key = kv[1].trim();
    if (key === 'mlflow_tracking_username') out.username = kv[2].trim();
    if (key === 'mlflow_tracking_password') out.password = kv[2].trim();
  }
  return out;
}

function credentialsFromFile(env: Record<string, string | undefined>): { username?: string; password?: string } {
  try {
    return readCredentialsFile(readFileSync(join(env.HOME || homedir(), '.mlflow', 'credentials'), 'utf8'));
  } catch {
    return {};
  }
}

function readPem(name: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw configError(`${name}=${path} cannot be read: ${(err as Error).message}`);
  }
}

/** Build the REST config for `url` from MLflow's variables in `env`. */
export function restConfig(given: string, env: Record<string, string | undefined>): RestConfig {
  // http://user:pass@host: MLflow's client sends the userinfo as Basic auth; the URL is used without it.
  const inUri = stripUserinfo(given);
  const url = inUri.uri;
  const fileCreds = credentialsFromFile(env);
  const username = env.MLFLOW_TRACKING_USERNAME || inUri.username || fileCreds.username;
  const password = env.MLFLOW_TRACKING_PASSWORD || (env.MLFLOW_TRACKING_USERNAME ? undefined : inUri.password) || fileCreds.password;
  const token = env.MLFLOW_TRACKING_TOKEN;
  let authorization: string | undefined;
  let authSource: string | undefined;
  // As in mlflow/utils/rest_utils.py: Basic wins when both username and password are set.
  if (username && password) {
    authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    authSource = env.MLFLOW_TRACKING_USERNAME ? 'MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD' : inUri.username ? 'the tracking URI\'s user:password' : '~/.mlflow/credentials';
  } else if (token) {
    authorization = `Bearer ${token}`;
    authSource = 'MLFLOW_TRACKING_TOKEN';
  }

  const insecure = parseBool('MLFLOW_TRACKING_INSECURE_TLS', env.MLFLOW_TRACKING_INSECURE_TLS, false);
  const caPath = env.MLFLOW_TRACKING_SERVER_CERT_PATH;
  if (insecure && caPath) {
    throw configError('MLFLOW_TRACKING_INSECURE_TLS and MLFLOW_TRACKING_SERVER_CERT_PATH cannot both be set; keep one');
  }
  const tls: RestConfig['tls'] = { rejectUnauthorized: !insecure };
  if (caPath) tls.ca = readPem('MLFLOW_TRACKING_SERVER_CERT_PATH', caPath);
  if (env.MLFLOW_TRACKING_CLIENT_CERT_PATH) {
    // requests' cert=<path>: one PEM file holding the certificate and its key.
    const pem = readPem('MLFLOW_TRACKING_CLIENT_CERT_PATH', env.MLFLOW_TRACKING_CLIENT_CERT_PATH);
    tls.cert = pem;
    tls.key = pem;
  }

  const retry: RetryPolicy = {
    maxRetries: parseNumber('MLFLOW_HTTP_REQUEST_MAX_RETRIES', env.MLFLOW_HTTP_REQUEST_MAX_RETRIES, 7, 10),
    backoffFactor: parseNumber('MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR', env.MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR, 2, 120),
    backoffJitter: parseNumber('MLFLOW_HTTP_REQUEST_BACKOFF_JITTER', env.MLFLOW_HTTP_REQUEST_BACKOFF_JITTER, 1),
    respectRetryAfter: parseBool('MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER', env.MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER, true),
    requestTimeoutMs: parseNumber('MLFLOW_HTTP_REQUEST_TIMEOUT', env.MLFLOW_HTTP_REQUEST_TIMEOUT, 120) * 1000,
    totalBudgetMs: parseNumber('MLSERVE_REGISTRY_TIMEOUT', env.MLSERVE_REGISTRY_TIMEOUT, 600) * 1000,
  };
  const maxArtifactBytes = parseByteSize('MLSERVE_MAX_ARTIFACT_BYTES', env.MLSERVE_MAX_ARTIFACT_BYTES, DEFAULT_MAX_ARTIFACT_BYTES);
  return { url: url.replace(/\/+$/, ''), authorization, authSource, tls, retry, maxArtifactBytes };
}

/**
 * Seconds to sleep before retry `n` (1-based): none before the first, then factor * 2^(n-1),
 * capped at 120 s, plus jitter; a Retry-After header (seconds or an HTTP date) wins when allowed.
 */
export function backoffMs(n: number, policy: RetryPolicy, rand: number, retryAfter?: string, now = Date.now()): number {
  if (policy.respectRetryAfter && retryAfter) {
    const secs = Number(retryAfter);
    if (Number.isFinite(secs) && secs >= 0) return Math.min(secs, 120) * 1000;
    const at = Date.parse(retryAfter);
    if (Number.isFinite(at)) return Math.max(0, Math.min(at - now, 120_000));
  }
  if (n <= 1) return 0;
  return Math.min(policy.backoffFactor * 2 ** (n - 1), 120) * 1000 + rand * policy.backoffJitter * 1000;
}

/** The variables a deploy may carry from the operator's shell to the daemon. */
export const MLFLOW_CLIENT_ENV = [
  'MLFLOW_TRACKING_URI', 'MLFLOW_REGISTRY_URI', 'MLFLOW_TRACKING_TOKEN', 'MLFLOW_TRACKING_USERNAME',
  'MLFLOW_TRACKING_PASSWORD', 'MLFLOW_TRACKING_INSECURE_TLS', 'MLFLOW_TRACKING_SERVER_CERT_PATH',
  'MLFLOW_TRACKING_CLIENT_CERT_PATH', 'MLFLOW_HTTP_REQUEST_MAX_RETRIES', 'MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR',
  'MLFLOW_HTTP_REQUEST_BACKOFF_JITTER', 'MLFLOW_HTTP_REQUEST_TIMEOUT', 'MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER',
  'MLSERVE_REGISTRY_TIMEOUT', 'MLSERVE_MAX_ARTIFACT_BYTES', 'HOME',
];
