// The CLI's side of the control API: HTTP/1.1 + JSON over the daemon's Unix socket (undici).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Agent, request } from 'undici';
import { homePaths } from '../home.js';
import { lockHolder } from '../home-lock.js';

export class DaemonNotRunning extends Error {
  /** Its code in the error catalogue (src/errors.ts). */
  readonly code = 'DAEMON_NOT_RUNNING' as const;
  /** Set when a daemon holds the home's lock but does not answer on its socket. */
  readonly pid?: number;
  constructor(readonly socket: string, holder?: { pid?: number }) {
    super(holder
      ? `the mlserve daemon${holder.pid ? ` (pid ${holder.pid})` : ''} holds ${dirname(socket)} but does not answer on ${socket}; it makes its socket again within a second or two, so retry, or stop it with mlserve daemon stop`
      : `the mlserve daemon is not running (no answer on ${socket}). Start it with: mlserve daemon start`);
    this.name = 'DaemonNotRunning';
    this.pid = holder?.pid;
  }
}

/** The daemon holding the home of this socket (by its OS lock), if any. */
export function daemonHolding(socket: string): { held: boolean; pid?: number } {
  const home = dirname(socket);
  return lockHolder({ home, pidFile: join(home, 'daemon.pid') });
}

/** When the socket is missing but a daemon holds the home, wait a little for the daemon to make it again. */
async function socketBack(socket: string, ms = 4000): Promise<boolean> {
  if (!daemonHolding(socket).held) return false;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (existsSync(socket)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const connectionFailed = (err: unknown) => ['ENOENT', 'ECONNREFUSED', 'UND_ERR_SOCKET'].includes((err as NodeJS.ErrnoException).code ?? '');

export class ControlError extends Error {
  constructor(message: string, readonly status: number, readonly code?: string) {
    super(message);
    this.name = 'ControlError';
  }
}

export class ControlClient {
  private readonly agent: Agent;
  constructor(readonly socket: string = homePaths().socket) {
    this.agent = new Agent({ connect: { socketPath: socket }, keepAliveTimeout: 1000 });
  }

  /** The error for a daemon that does not answer: not running, or running without its socket. */
  notRunning(): DaemonNotRunning {
    const h = daemonHolding(this.socket);
    return new DaemonNotRunning(this.socket, h.held ? h : undefined);
  }

  async call<T = unknown>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, timeoutMs = 600_000): Promise<T> {
    let res;
    const send = () => request(`http://mlserve${path}`, {
      method,
      dispatcher: this.agent,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    try {
      res = await send();
    } catch (err) {
      if (!connectionFailed(err)) throw err;
      if (!(await socketBack(this.socket))) throw this.notRunning();
      try {
        res = await send();
      } catch (again) {
        if (connectionFailed(again)) throw this.notRunning();
        throw again;
      }
    }
    const text = await res.body.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ControlError(`the daemon sent a non-JSON answer (${res.statusCode}): ${text.slice(0, 200)}`, res.statusCode);
    }
    if (res.statusCode >= 400) {
      const e = data as { error?: string; code?: string } | undefined;
      throw new ControlError(e?.error ?? `daemon answered ${res.statusCode}`, res.statusCode, e?.code);
    }
    return data as T;
  }

  /** POST a JSON body and read an NDJSON answer line by line; returns the last line. */
  async ndjson<T = unknown>(path: string, body: unknown, onLine: (line: Record<string, unknown>) => void): Promise<T> {
    let res;
    try {
      res = await request(`http://mlserve${path}`, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        headersTimeout: 0,
        bodyTimeout: 0,
      });
    } catch (err) {
      if (connectionFailed(err)) throw this.notRunning();
      throw err;
    }
    if (res.statusCode >= 400) {
      const e = (await res.body.json().catch(() => ({}))) as { error?: string; code?: string };
      throw new ControlError(e.error ?? `daemon answered ${res.statusCode}`, res.statusCode, e.code);
    }
    let buf = '';
    let last: Record<string, unknown> = {};
    for await (const chunk of res.body) {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        last = JSON.parse(line) as Record<string, unknown>;
        onLine(last);
      }
    }
    if (typeof last.error === 'string') throw new ControlError(last.error, 400, last.code as string | undefined);
    return last.result as T;
  }

  /** A streamed response (logs --follow, top), chunk by chunk; an error answer throws as call() does. */
  async stream(path: string, onChunk: (s: string) => void): Promise<void> {
    try {
      const res = await request(`http://mlserve${path}`, { method: 'GET', dispatcher: this.agent, bodyTimeout: 0 });
      if (res.statusCode >= 400) {
        const e = (await res.body.json().catch(() => ({}))) as { error?: string; code?: string };
        throw new ControlError(e.error ?? `daemon answered ${res.statusCode}`, res.statusCode, e.code);
      }
      for await (const chunk of res.body) onChunk(chunk.toString());
    } catch (err) {
      if (connectionFailed(err)) throw this.notRunning();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
