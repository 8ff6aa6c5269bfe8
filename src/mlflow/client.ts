// The HTTP side of MLflow's REST API (undici): auth headers, TLS options, MLflow's retry policy
// with Retry-After, a total time budget, and errors that say what to do.
import { Agent, request, type Dispatcher } from 'undici';
import { MlserveError } from '../errors.js';
import { writeBodyToFile, type BodyError, type DownloadLimit } from './body-to-file.js';
import { FS_ERRORS } from './cache.js';
import { backoffMs, RETRY_STATUSES, type RestConfig } from './rest-config.js';

/** An error answer from MLflow: `{"error_code", "message"}` with its HTTP status. */
export class RegistryError extends MlserveError {
  constructor(
    readonly httpStatus: number,
    readonly mlflowCode: string,
    message: string,
  ) {
    super(httpStatus >= 500 ? 'MLFLOW_UNAVAILABLE' : 'MODEL_SOURCE', message);
  }
}

export interface ClientDeps {
  sleep?: (ms: number) => Promise<void>;
  rand?: () => number;
  now?: () => number;
}

type Query = Record<string, string | string[] | undefined>;

function withQuery(url: string, query?: Query): string {
  if (!query) return url;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    for (const item of Array.isArray(v) ? v : [v]) q.append(k, item);
  }
  const s = q.toString();
  return s ? `${url}?${s}` : url;
}

function snippet(text: string): string {
  const title = /<title>([^<]*)<\/title>/i.exec(text)?.[1];
  return (title ?? text).replace(/\s+/g, ' ').trim().slice(0, 120);
}

export class MlflowRestClient {
  private readonly agent: Agent;
  private readonly deadline: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly rand: () => number;
  private readonly now: () => number;
  /** Requests sent, retries included (for events and tests). */
  requests = 0;

  constructor(
    readonly cfg: RestConfig,
    deps: ClientDeps = {},
  ) {
    this.agent = new Agent({ connect: { ...cfg.tls }, connections: 8 });
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.rand = deps.rand ?? Math.random;
    this.now = deps.now ?? Date.now;
    this.deadline = this.now() + cfg.retry.totalBudgetMs;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** A URL on the tracking server (its base path kept). */
  url(path: string, query?: Query): string {
    return withQuery(`${this.cfg.url}${path}`, query);
  }

  /** Send with MLflow's retries; returns the final response (any status). */
  async send(method: 'GET' | 'POST', url: string, body?: unknown): Promise<Dispatcher.ResponseData> {
    const { retry } = this.cfg;
    let lastError: unknown;
    for (let attempt = 0; attempt <= retry.maxRetries; attempt++) {
      const left = this.deadline - this.now();
      if (left <= 0) break;
      const timeout = Math.min(retry.requestTimeoutMs, left);
      this.requests++;
      try {
        const res = await request(url, {
          method,
          dispatcher: this.agent,
          headers: {
            ...(this.cfg.authorization ? { authorization: this.cfg.authorization } : {}),
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            'user-agent': 'mlserve',
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          headersTimeout: timeout,
          bodyTimeout: timeout,
        });
        if (!RETRY_STATUSES.has(res.statusCode) || attempt === retry.maxRetries) return res;
        await res.body.dump();
        lastError = new Error(`HTTP ${res.statusCode}`);
        const retryAfter = res.headers['retry-after'];
        await this.pause(attempt + 1, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
      } catch (err) {
        if (err instanceof MlserveError) throw err;
        lastError = err;
        if (attempt === retry.maxRetries) break;
        await this.pause(attempt + 1);
      }
    }
    const why = lastError instanceof Error ? ((lastError as NodeJS.ErrnoException).code ?? lastError.message) : String(lastError);
    throw new MlserveError(
      'MLFLOW_UNAVAILABLE',
      `cannot reach MLflow at ${url.split('?')[0]} (${why}) after ${this.requests} tries within ${Math.round(this.cfg.retry.totalBudgetMs / 1000)}s; check MLFLOW_TRACKING_URI and that the server runs (MLSERVE_REGISTRY_TIMEOUT sets the time budget)`,
    );
  }

  private async pause(retryNumber: number, retryAfter?: string): Promise<void> {
    const ms = backoffMs(retryNumber, this.cfg.retry, this.rand(), retryAfter, this.now());
    const left = this.deadline - this.now();
    if (ms >= left) {
      throw new MlserveError('MLFLOW_UNAVAILABLE', `MLflow at ${this.cfg.url} kept failing and the registry time budget (${Math.round(this.cfg.retry.totalBudgetMs / 1000)}s, MLSERVE_REGISTRY_TIMEOUT) ran out`);
    }
    if (ms > 0) await this.sleep(ms);
  }

  /**
   * Call a REST endpoint and return its JSON, or throw the error MLflow answered. `write` marks a
   * call that changes the registry (a 403 then says which permission it takes).
   */
  async json<T = Record<string, unknown>>(method: 'GET' | 'POST', path: string, params?: Query | Record<string, unknown>, opts: { write?: boolean } = {}): Promise<T> {
    const url = method === 'GET' ? this.url(path, params as Query) : this.url(path);
    const res = await this.send(method, url, method === 'GET' ? undefined : params ?? {});
    const text = await res.body.text();
    this.checkAuth(res.statusCode, path, opts.write ? text : undefined);
    const type = String(res.headers['content-type'] ?? '');
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
    if (data === undefined || typeof data !== 'object' || data === null) {
      const what = type.includes('html') ? 'an HTML page' : `'${type || 'no content type'}'`;
      throw new MlserveError(
        'MLFLOW_UNAVAILABLE',
        `MLflow at ${this.cfg.url} answered ${path} with ${what} (HTTP ${res.statusCode}) instead of JSON: "${snippet(text)}". Is MLFLOW_TRACKING_URI the tracking server itself, not a proxy or login page?`,
      );
    }
    const obj = data as { error_code?: string; message?: string };
    if (res.statusCode >= 400) {
      throw new RegistryError(res.statusCode, obj.error_code ?? 'UNKNOWN', obj.message ?? `HTTP ${res.statusCode} from ${path}`);
    }
    return data as T;
  }

  private checkAuth(status: number, path: string, writeAnswer?: string): void {
    if (status === 401) {
      throw new MlserveError(
        'MODEL_SOURCE',
        `MLflow at ${this.cfg.url} answered 401 Unauthorized for ${path}${this.cfg.authSource ? ` with the credentials from ${this.cfg.authSource}` : ' (no credentials were sent)'}: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN`,
      );
    }
    if (status === 403 && writeAnswer !== undefined) {
      let said = '';
      try {
        said = (JSON.parse(writeAnswer) as { message?: string }).message ?? '';
      } catch {
        said = snippet(writeAnswer);
      }
      throw new RegistryError(
        403,
        'PERMISSION_DENIED',
        `MLflow at ${this.cfg.url} answered 403 Forbidden for ${path}${said ? ` ("${said}")` : ''}: the user${this.cfg.authSource ? ` from ${this.cfg.authSource}` : ''} may not change this model; it needs EDIT (or MANAGE) permission on the registered model`,
      );
    }
    if (status === 403) {
      throw new MlserveError(
        'MODEL_SOURCE',
        `MLflow at ${this.cfg.url} answered 403 Forbidden for ${path}: the user${this.cfg.authSource ? ` from ${this.cfg.authSource}` : ''} may not read it; ask an MLflow admin for READ permission, or use other credentials`,
      );
    }
  }

  /**
   * Stream a file to `dest`, retrying like any request; returns the bytes written. `onBytes`
   * sees each chunk's size (for progress). With `limit`, the transfer stops as soon as a chunk
   * would take the file past `limit.maxBytes`: that chunk is not written, the HTTP body is
   * aborted, the partial file is deleted and `limit.exceeded(bytesReceived)` is thrown.
   * Errors of the file system (a full or read-only disk) are thrown as they are, for the cache
   * to name its folder.
   */
  async download(url: string, dest: string, onBytes: (n: number) => void, limit?: DownloadLimit): Promise<number> {
    const res = await this.send('GET', url);
    this.checkAuth(res.statusCode, url);
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      let msg = snippet(text);
      try {
        msg = (JSON.parse(text) as { message?: string }).message ?? msg;
      } catch { /* not JSON */ }
      throw new MlserveError('MODEL_SOURCE', `downloading ${url.split('?')[0]} failed with HTTP ${res.statusCode}: ${msg}`);
    }
    try {
      return await writeBodyToFile(res.body, dest, onBytes, limit);
    } catch (e) {
      const { reason: err, written, overLimit } = e as BodyError;
      if (overLimit) throw err;
      if (err instanceof MlserveError || FS_ERRORS.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
      throw new MlserveError('MLFLOW_UNAVAILABLE', `download of ${url.split('?')[0]} broke off after ${written} bytes: ${err.message}; deploy again to retry`);
    }
  }
}
