// Who may use the ingress: the Host check against DNS rebinding (a web page whose name was made to
// resolve to 127.0.0.1 sends its own name as Host), the optional bearer token (compared in constant
// time), and reading the token and TLS files with the checks a secret deserves.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { MlserveError } from '../../errors.js';
import { isLoopback, type IngressSecurity } from './ingress-settings.js';

/** The host part of a Host header (no port, no brackets, lowercase, no trailing dot). */
export function hostOf(header: string): string {
  let h = header.trim().toLowerCase();
  if (h.startsWith('[')) h = h.slice(1, h.indexOf(']') < 0 ? undefined : h.indexOf(']'));
  else if (h.indexOf(':') === h.lastIndexOf(':')) h = h.replace(/:\d*$/, '');
  return h.replace(/\.$/, '');
}

/**
 * Which Host values the ingress answers. An IP address cannot come from DNS rebinding (the page was
 * then loaded from that address: from us), so IP literals always pass; names must be localhost
 * (and *.localhost), the bound name, this machine's name when bound to every interface, or one
 * given with --allowed-hosts (`name`, `.example.com` for it and its subdomains, `*` for any).
 */
export function hostAllowed(sec: Pick<IngressSecurity, 'host' | 'allowedHosts'>): (header: string | undefined) => boolean {
  const names = new Set<string>(['localhost']);
  const suffixes = ['.localhost'];
  const bound = hostOf(sec.host);
  if (!isIP(bound)) names.add(bound);
  if (bound === '0.0.0.0' || bound === '::') names.add(hostname().toLowerCase());
  let any = false;
  for (const raw of sec.allowedHosts) {
    const a = raw.trim().toLowerCase();
    if (a === '*') any = true;
    else if (a.startsWith('*.')) suffixes.push(a.slice(1));
    else if (a.startsWith('.')) {
      suffixes.push(a);
      names.add(a.slice(1));
    } else if (a) names.add(hostOf(a));
  }
  return (header) => {
    if (any || header === undefined) return true; // HTTP/1.0 without Host: no browser sends that
    const h = hostOf(header);
    return isIP(h) !== 0 || names.has(h) || suffixes.some((s) => h.endsWith(s));
  };
}

export function forbiddenHost(header: string): MlserveError {
  return new MlserveError('FORBIDDEN', `Host '${header}' is not a name this daemon answers to (a guard against DNS rebinding); `
    + 'use localhost or an IP address, or start the daemon with --allowed-hosts <name,...>');
}

/** Checks `Authorization: Bearer <token>` in constant time (digests of equal length are compared). */
export function bearerCheck(token: string): (header: string | undefined) => boolean {
  const want = createHash('sha256').update(token).digest();
  return (header) => {
    const m = /^\s*bearer\s+(\S+)\s*$/i.exec(header ?? '');
    const got = createHash('sha256').update(m ? m[1]! : '').digest();
    return timingSafeEqual(got, want) && m !== null;
  };
}

export function unauthorized(header: string | undefined): MlserveError {
  return new MlserveError('UNAUTHORIZED', header
    ? 'the bearer token is wrong; send the content of the daemon\'s --auth-token-file as Authorization: Bearer <token>'
    : 'this ingress needs a token: send Authorization: Bearer <token> (the content of the daemon\'s --auth-token-file)', {
    headers: { 'WWW-Authenticate': header ? 'Bearer realm="mlserve", error="invalid_token"' : 'Bearer realm="mlserve"' },
  });
}

/** The token in a file only its owner may read (like ssh's keys); its content, trimmed, is the token. */
export function readTokenFile(path: string): string {
  let mode: number;
  let text: string;
  try {
    mode = statSync(path).mode;
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the token file ${path}: ${(err as Error).message}`);
  }
  if (mode & 0o077) {
    throw new Error(`the token file ${path} may be read by other users (mode ${(mode & 0o777).toString(8)}); chmod 600 ${path}`);
  }
  const token = text.trim();
  if (token.length < 16 || /\s/.test(token)) {
    throw new Error(`the token in ${path} must be one word of at least 16 characters (e.g. openssl rand -hex 32 > ${path})`);
  }
  return token;
}

export function readTls(certPath: string, keyPath: string): { cert: Buffer; key: Buffer } {
  const read = (p: string, what: string) => {
    try {
      return readFileSync(p);
    } catch (err) {
      throw new Error(`cannot read the TLS ${what} ${p}: ${(err as Error).message}`);
    }
  };
  const key = read(keyPath, 'key');
  if (statSync(keyPath).mode & 0o077) throw new Error(`the TLS key ${keyPath} may be read by other users; chmod 600 ${keyPath}`);
  return { cert: read(certPath, 'certificate'), key };
}

/** Do unknown-endpoint 404s list the endpoints? Only to authorized callers, or on a loopback bind without a token. */
export const listsEndpoints = (sec: Pick<IngressSecurity, 'host' | 'token'>): boolean => sec.token !== null || isLoopback(sec.host);
