// The CLI's side of the control API: HTTP/1.1 + JSON over the daemon's Unix socket (undici).
import { Agent, request } from 'undici';
import { homePaths } from '../home.js';

export class DaemonNotRunning extends Error {
  constructor(readonly socket: string) {
    super(`the mlserve daemon is not running (no answer on ${socket}). Start it with: mlserve daemon start`);
    this.name = 'DaemonNotRunning';
  }
}

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

  async call<T = unknown>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, timeoutMs = 600_000): Promise<T> {
    let res;
    try {
      res = await request(`http://mlserve${path}`, {
        method,
        dispatcher: this.agent,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'UND_ERR_SOCKET') throw new DaemonNotRunning(this.socket);
      throw err;
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
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'UND_ERR_SOCKET') throw new DaemonNotRunning(this.socket);
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

  /** A streamed text response (logs --follow), chunk by chunk. */
  async stream(path: string, onChunk: (s: string) => void): Promise<void> {
    try {
      const res = await request(`http://mlserve${path}`, { method: 'GET', dispatcher: this.agent, bodyTimeout: 0 });
      for await (const chunk of res.body) onChunk(chunk.toString());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ECONNREFUSED') throw new DaemonNotRunning(this.socket);
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
