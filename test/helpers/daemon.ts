// Test harness: a real daemon in a temp MLSERVE_HOME, driven through the real CLI (bin/run.js).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { request } from 'undici';

export const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url));

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  json: any;
}

export class TestDaemon {
  readonly home: string;
  url = '';
  pid = 0;
  env: Record<string, string>;

  constructor(env: Record<string, string> = {}) {
    this.home = mkdtempSync(join(tmpdir(), 'mlserve-test-'));
    this.env = { MLSERVE_HOME: this.home, ...env };
  }

  /** Run the CLI with this daemon's home. */
  async cli(args: string[], opts: { env?: Record<string, string>; cwd?: string; timeout?: number; input?: string } = {}): Promise<CliResult> {
    const r = await execa(process.execPath, [BIN, ...args], {
      env: { ...this.env, ...opts.env },
      cwd: opts.cwd,
      ...(opts.input !== undefined ? { input: opts.input } : {}),
      reject: false,
      timeout: opts.timeout ?? 120_000,
    });
    let json: unknown;
    if (args.includes('--json')) {
      try {
        json = JSON.parse(String(r.stdout));
      } catch {
        json = undefined;
      }
    }
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr), json };
  }

  async start(extra: string[] = []): Promise<this> {
    const r = await this.cli(['daemon', 'start', '--port', '0', '--json', ...extra]);
    if (r.exitCode !== 0) throw new Error(`daemon start failed (${r.exitCode}): ${r.stdout}\n${r.stderr}`);
    this.url = r.json.ingress.url;
    this.pid = r.json.pid;
    return this;
  }

  async stop(): Promise<void> {
    await this.cli(['daemon', 'stop']);
  }

  /** Stop the daemon (SIGKILL if it will not stop) and remove the home. */
  async cleanup(): Promise<void> {
    await this.stop().catch(() => {});
    const pidFile = join(this.home, 'daemon.pid');
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8'));
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    rmSync(this.home, { recursive: true, force: true });
  }

  async deploy(source: string, args: string[] = [], env: Record<string, string> = {}): Promise<CliResult> {
    return this.cli(['deploy', source, '--json', ...args], { env });
  }

  async http(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const res = await request(`${this.url}${path}`, {
      method: method as 'GET',
      body: payload,
      headers: body !== undefined && !headers['content-type'] ? { 'content-type': 'application/json', ...headers } : headers,
    });
    const text = await res.body.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, headers: res.headers, text, json };
  }
}
