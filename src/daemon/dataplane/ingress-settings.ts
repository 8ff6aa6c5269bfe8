// The ingress's limits and exposure settings, with their defaults (the `mlserve daemon start` flags
// of the same names), and the checks that decide whether a bind is safe to start. PURE: no I/O here
// (reading the token and certificate files is auth.ts's).

/** What the ingress holds itself to; every field has a `daemon start` flag. */
export interface IngressLimits {
  /** Largest binary (octet-stream) request body, bytes (--max-body-size). */
  maxBodyBytes: number;
  /** Largest JSON request body, bytes (--max-json-body-size): JSON costs ~10x its size to parse. */
  maxJsonBodyBytes: number;
  /** Open connections past which new ones are answered 503 and closed (--max-connections). */
  maxConnections: number;
  /** The whole request header must arrive within this (--header-timeout), as nginx's client_header_timeout. */
  headerTimeoutMs: number;
  /** Longest pause between two reads of a request body (--body-timeout), as nginx's client_body_timeout. */
  bodyTimeoutMs: number;
  /** Longest time a response makes no progress towards a client that does not read (--send-timeout). */
  sendTimeoutMs: number;
  /** An idle keep-alive connection is closed after this (--keep-alive-timeout). */
  keepAliveTimeoutMs: number;
  /** JSON bodies of at least this many bytes are parsed on a worker thread (MLSERVE_JSON_OFFLOAD_BYTES). */
  jsonOffloadBytes: number;
}

export const DEFAULT_LIMITS: IngressLimits = {
  maxBodyBytes: 64 * 2 ** 20,
  maxJsonBodyBytes: 16 * 2 ** 20,
  maxConnections: 4096,
  headerTimeoutMs: 30_000,
  bodyTimeoutMs: 30_000,
  sendTimeoutMs: 30_000,
  keepAliveTimeoutMs: 65_000,
  jsonOffloadBytes: 128 * 1024,
};

/** Who may talk to the ingress. */
export interface IngressSecurity {
  /** The bound address (--host): decides the default Host check and whether 404s list endpoints. */
  host: string;
  /** Extra Host names (--allowed-hosts); '*' turns the check off. */
  allowedHosts: string[];
  /** The bearer token (--auth-token-file's content), or null for none. */
  token: string | null;
  /** Also require the token for /metrics (--metrics-auth). */
  metricsAuth: boolean;
  /** PEM certificate and key (--tls-cert / --tls-key): serve HTTPS. */
  tls: { cert: Buffer; key: Buffer } | null;
  /** Clients may register /dev/shm regions and pass tensors through them (--allow-client-shm). */
  allowClientShm: boolean;
}

export const DEFAULT_SECURITY: IngressSecurity = { host: '127.0.0.1', allowedHosts: [], token: null, metricsAuth: false, tls: null, allowClientShm: false };

/** Is this bind address reachable only from this machine? */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || /^::ffff:127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * May the daemon bind `host` with these settings? A non-loopback bind without a token serves every
 * user of the network: refused unless --insecure says so. Returns the refusal, or null; `warnings`
 * are worth printing but do not stop the start.
 */
export function checkExposure(s: { host: string; token: boolean; insecure: boolean; tls: boolean; metricsAuth: boolean }): { refusal: string | null; warnings: string[] } {
  const warnings: string[] = [];
  if (s.metricsAuth && !s.token) return { refusal: '--metrics-auth needs --auth-token-file (the token /metrics will ask for)', warnings };
  if (isLoopback(s.host)) return { refusal: null, warnings };
  if (!s.token && !s.insecure) {
    return {
      refusal: `--host ${s.host} is not a loopback address, so anyone who can reach this machine could run the models: `
        + 'pass --auth-token-file <file> (e.g. openssl rand -hex 32 > ~/.mlserve-token && chmod 600 ~/.mlserve-token), '
        + 'or --insecure to serve without a token (behind a proxy that authenticates)',
      warnings,
    };
  }
  if (!s.token) warnings.push(`the ingress on ${s.host} takes requests from anyone who can reach it (--insecure)`);
  else if (!s.tls) warnings.push(`the token crosses the network in clear text on ${s.host}; add --tls-cert/--tls-key or put a TLS proxy in front`);
  return { refusal: null, warnings };
}

/** `30s`, `500ms`, `2m`, or a bare number of seconds, as milliseconds. */
export function parseDurationMs(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/i.exec(s.trim());
  if (!m) throw new Error(`'${s}' is not a duration; use e.g. 30s, 500ms, 2m`);
  const unit = (m[2] ?? 's').toLowerCase();
  const ms = Number(m[1]) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : 60_000);
  if (!Number.isFinite(ms) || ms < 1) throw new Error(`'${s}' is too short a duration (at least 1ms)`);
  return Math.round(ms);
}
