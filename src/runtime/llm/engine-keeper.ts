// The replica process of the `openai` kind: it keeps one external OpenAI-compatible engine (vLLM,
// SGLang, TGI, llama.cpp's server, llama-cpp-python's server...) alive for the daemon. It picks a
// free port, starts the engine's argv (no shell) in a process group of its own, waits until the
// engine answers GET /health (or /v1/models), and reports `ready` with the engine's URL; the daemon
// then sends requests there directly over HTTP. Pings are answered after a health check of the
// engine. When fd 3 closes (undeploy, daemon stop, or a daemon killed with SIGKILL) it stops the
// whole process group: SIGTERM, then SIGKILL after the grace period. An engine that exits ends
// this process too, and the daemon restarts the replica with backoff.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { encodeFrame, FrameDecoder } from '../frame.js';
import type { FromReplica, ToReplica } from '../protocol.js';

export interface EngineKeeperConfig {
  deployment: string;
  replica: number;
  /** The engine's command; {port} is filled in here. */
  argv: string[];
  host: string;
  readyTimeoutS: number;
  stopGraceMs: number;
  contextSize?: number;
  slots?: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as EngineKeeperConfig;
const pipe = new net.Socket({ fd: 3, readable: true, writable: true });
const decoder = new FrameDecoder();
let engine: ChildProcess | null = null;
let engineExited = false;
let baseUrl = '';
let healthPath = '/health';
let stopping = false;

function send(header: FromReplica): void {
  const parts = encodeFrame(header, []);
  pipe.cork();
  for (const p of parts) pipe.write(p);
  process.nextTick(() => pipe.uncork());
}

const log = (s: string) => console.log(`engine keeper ${config.deployment}#${config.replica}: ${s}`);

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function killGroup(signal: NodeJS.Signals): void {
  if (!engine?.pid || engineExited) return;
  try {
    process.kill(-engine.pid, signal);
  } catch {
    /* already gone */
  }
}

/** Stop the engine's whole process group, then exit. */
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    if (engine && !engineExited) {
      log(`stopping the engine (process group ${engine.pid})`);
      killGroup('SIGTERM');
      const deadline = Date.now() + config.stopGraceMs;
      while (!engineExited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      killGroup('SIGKILL');
    }
  }
  process.exit(code);
}

/** GET one path of the engine; true on 200. */
async function get(path: string, timeoutMs: number): Promise<{ ok: boolean; status: number; body: string }> {
  try {
    const res = await fetch(`${baseUrl}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    return { ok: res.status === 200, status: res.status, body: await res.text() };
  } catch {
    return { ok: false, status: 0, body: '' };
  }
}

/** Is the engine up? /health where it has one, else /v1/models (llama-cpp-python has no /health). */
async function healthy(timeoutMs: number): Promise<boolean> {
  const r = await get(healthPath, timeoutMs);
  if (r.status === 404 && healthPath === '/health') {
    healthPath = '/v1/models';
    return (await get(healthPath, timeoutMs)).ok;
  }
  return r.ok;
}

function handle(msg: ToReplica): void {
  if (msg.t !== 'ping') return;
  void healthy(5000).then((ok) => {
    if (ok) send({ t: 'pong', id: msg.id });
    else send({ t: 'error', id: msg.id, message: `the engine did not answer GET ${healthPath}` });
  });
}

pipe.on('data', (chunk: Buffer) => {
  for (const f of decoder.push(chunk)) handle(f.header as ToReplica);
});
pipe.on('end', () => void stop(0));
pipe.on('error', () => void stop(0));
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => void stop(0));
// Last resort (an exception, process.exit elsewhere): the engine never outlives its keeper.
process.on('exit', () => killGroup('SIGKILL'));

function fatal(message: string): void {
  console.error(`engine keeper: ${message}`);
  send({ t: 'fatal', message });
  pipe.end(() => void stop(1));
  setTimeout(() => void stop(1), 1000).unref();
}

async function main(): Promise<void> {
  const started = performance.now();
  const port = await freePort(config.host);
  baseUrl = `http://${config.host}:${port}`;
  const argv = config.argv.map((a) => a.replaceAll('{port}', String(port)));
  log(`starting ${JSON.stringify(argv)} on ${baseUrl}`);
  engine = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  let ready = false;
  let spawnError: string | null = null;
  engine.once('error', (err) => {
    spawnError = `cannot start ${argv[0]}: ${err.message}`;
    engineExited = true;
  });
  engine.once('exit', (code, signal) => {
    engineExited = true;
    if (stopping) return;
    const how = signal ? `killed by ${signal}` : `exit code ${code}`;
    if (ready) {
      log(`the engine exited (${how})`);
      void stop(3);
    } else if (!spawnError) fatal(`the engine exited before it answered GET ${healthPath} (${how}); see its output above in this log`);
  });
  const deadline = Date.now() + config.readyTimeoutS * 1000;
  while (!ready) {
    if (spawnError) return fatal(spawnError);
    if (engineExited || stopping) return;
    if (Date.now() > deadline) {
      killGroup('SIGKILL');
      return fatal(`the engine did not answer GET ${healthPath} within ${config.readyTimeoutS} s`);
    }
    ready = await healthy(2000);
    if (!ready) await new Promise((r) => setTimeout(r, 250));
  }
  let models: string[] = [];
  try {
    models = ((JSON.parse((await get('/v1/models', 5000)).body) as { data?: Array<{ id: string }> }).data ?? []).map((m) => m.id);
  } catch {
    /* the engine lists no models: requests name none */
  }
  const loadMs = performance.now() - started;
  log(`engine ready in ${loadMs.toFixed(0)} ms at ${baseUrl} (models: ${models.join(', ') || 'none listed'})`);
  send({ t: 'ready', inputs: [], outputs: [], loadMs, pid: process.pid, llm: { engine: argv[0], baseUrl, models, contextSize: config.contextSize ?? 0, slots: config.slots ?? 0 } } as FromReplica);
}

void main().catch((err: Error) => fatal(err.message));
