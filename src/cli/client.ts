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
