// The control API: HTTP/1.1 + JSON over the Unix socket, versioned under /v1. It validates and
// hands work to the controller; the CLI is its only intended client.
import http from 'node:http';
import { asMlserveError, MlserveError, notFound } from '../../errors.js';
import type { Commands, DeployRequest } from './commands.js';
import type { ApplyRequest } from './apply.js';
import type { Store } from './store.js';
import { readBody } from '../dataplane/ingress.js';
import { followLogs, readLogs, type LogSource } from '../fleet/logs.js';
import { listCache, pruneCache } from '../../mlflow/cache.js';
import type { Snapshot } from '../snapshot.js';
import type { CanaryCommands } from '../rollout/canary-commands.js';
import type { RegistryWriteRequest } from '../rollout/registry-write.js';
import type { CaptureCommands } from '../capture/commands.js';
import type { DriftCommands } from '../monitor/drift-commands.js';
import { resolve } from 'node:path';

export interface DaemonInfo {
  pid: number;
  version: string;
  home: string;
  socket: string;
  ingress: { host: string; port: number; url: string };
  startedAt: number;
  /** How many times a daemon started on this home. */
  starts: number;
  /** Server readiness needs every endpoint ready (--strict-readiness, the default) or only a live server. */
  strictReadiness?: boolean;
}

export interface ControlDeps {
  commands: Commands;
  apply: (req: ApplyRequest, onProgress: (p: unknown) => void) => Promise<unknown>;
  canary: CanaryCommands;
  capture: CaptureCommands;
  drift: DriftCommands;
  canaryStatus: () => Promise<unknown>;
  status: () => { deployments: Array<{ name: string; endpoint: string }> } & Record<string, unknown>;
  gpus: () => unknown;
  snapshot: (daemon: Snapshot['daemon']) => Promise<Snapshot>;
  store: Store;
  info: () => DaemonInfo;
  logDir: string;
  cacheDir: string;
  shutdown: () => void;
}

/** --registry-alias/--registry-stage of promote/rollback, with the CLI's MLflow variables (never stored). */
function registryWrite(b: Record<string, unknown>): RegistryWriteRequest | undefined {
  const alias = typeof b.registryAlias === 'string' ? b.registryAlias : undefined;
  const stage = typeof b.registryStage === 'string' ? b.registryStage : undefined;
  if (alias === undefined && stage === undefined) return undefined;
  const env = b.env && typeof b.env === 'object' ? Object.fromEntries(Object.entries(b.env as Record<string, unknown>).filter(([, v]) => typeof v === 'string')) as Record<string, string> : {};
  return { alias, stage, env, cwd: typeof b.cwd === 'string' ? b.cwd : undefined };
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, params: string[], query: URLSearchParams) => Promise<unknown>;

export function createControlServer(deps: ControlDeps): http.Server {
  const snapshot = () => {
    const i = deps.info();
    return deps.snapshot({ pid: i.pid, version: i.version, startedAt: i.startedAt, url: i.ingress.url });
  };
  const routes: Array<[string, RegExp, Handler]> = [
    ['GET', /^\/v1\/health$/, async () => deps.info()],
    ['GET', /^\/v1\/status$/, async () => ({ daemon: deps.info(), ...deps.status() })],
    ['POST', /^\/v1\/deployments$/, async (req, res, _p, q) => {
      const body = await jsonBody(req);
      if (typeof body.source !== 'string' || body.source.length === 0) {
        throw new MlserveError('BAD_REQUEST', 'deploy needs a model source (a path to .onnx, an MLflow model directory, or models:/Name/Version)');
      }
      if (q.get('progress') !== '1') return deps.commands.deploy(body as unknown as DeployRequest);
      return ndjson(res, (progress) => deps.commands.deploy(body as unknown as DeployRequest, progress));
    }],
    ['POST', /^\/v1\/apply$/, async (req, res) => {
      const body = await jsonBody(req, 16 << 20);
      if (!Array.isArray(body.endpoints)) throw new MlserveError('BAD_REQUEST', 'apply needs endpoints: the parsed config file (use mlserve apply -f)');
      return ndjson(res, (progress) => deps.apply(body as unknown as ApplyRequest, progress));
    }],
    ['GET', /^\/v1\/canary$/, () => deps.canaryStatus()],
    ['POST', /^\/v1\/canary\/weight$/, async (req) => {
      const b = await jsonBody(req);
      return deps.canary.setWeight(Number(b.weight), b.endpoint as string | undefined);
    }],
    ['POST', /^\/v1\/canary\/start$/, async (req) => {
      const b = await jsonBody(req);
      return deps.canary.startRollout(b.policy, b.endpoint as string | undefined);
    }],
    ['POST', /^\/v1\/canary\/shadow$/, async (req) => {
      const b = await jsonBody(req);
      return deps.canary.setShadow(Number(b.weight), b.endpoint as string | undefined);
    }],
    ['POST', /^\/v1\/canary\/promote$/, async (req) => {
      const b = await jsonBody(req);
      return deps.canary.promote(b.endpoint as string | undefined, registryWrite(b));
    }],
    ['POST', /^\/v1\/canary\/rollback$/, async (req) => {
      const b = await jsonBody(req);
      return deps.canary.rollback(b.endpoint as string | undefined, undefined, registryWrite(b));
    }],
    ['GET', /^\/v1\/capture$/, async () => ({ capture: await deps.capture.status() })],
    ['POST', /^\/v1\/capture\/([^/]+)$/, async (req, _res, [endpoint]) => deps.capture.on(endpoint, await jsonBody(req))],
    ['DELETE', /^\/v1\/capture\/([^/]+)$/, async (_req, _res, [endpoint]) => deps.capture.off(endpoint)],
    ['GET', /^\/v1\/capture$/, async () => ({ capture: await deps.capture.status() })],
    ['POST', /^\/v1\/capture\/([^/]+)$/, async (req, _res, [endpoint]) => deps.capture.on(endpoint, await jsonBody(req))],
    ['DELETE', /^\/v1\/capture\/([^/]+)$/, async (_req, _res, [endpoint]) => deps.capture.off(endpoint)],
    ['GET', /^\/v1\/drift$/, async () => deps.drift.list()],
    ['POST', /^\/v1\/drift\/([^/]+)$/, async (req, _res, [endpoint]) => deps.drift.schedule(endpoint, await jsonBody(req))],
    ['DELETE', /^\/v1\/drift\/([^/]+)$/, async (_req, _res, [endpoint]) => deps.drift.unschedule(endpoint)],
    ['GET', /^\/v1\/gpus$/, async () => deps.gpus()],
    ['GET', /^\/v1\/snapshot$/, async () => snapshot()],
    ['GET', /^\/v1\/stream$/, async (req, res, _p, q) => {
      // NDJSON: one snapshot per interval until the client leaves (mlserve top).
      const interval = Math.max(100, Number(q.get('interval') ?? 1000));
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const tick = async () => {
        if (!res.writableEnded) res.write(`${JSON.stringify(await snapshot())}\n`);
      };
      await tick();
      const timer = setInterval(() => void tick(), interval);
      req.on('close', () => clearInterval(timer));
      return undefined;
    }],
    ['GET', /^\/v1\/cache$/, async () => ({ entries: listCache(deps.cacheDir) })],
    ['POST', /^\/v1\/cache\/prune$/, async () => {
      const inUse = new Set(deps.store.listDeployments().map((d) => resolve(d.modelDir)));
      const removed = pruneCache(deps.cacheDir, inUse);
      deps.store.addEvent('cache-pruned', 'daemon', `removed ${removed.length} cached model(s)`, { keys: removed.map((e) => e.key) });
      return { removed };
    }],
    ['GET', /^\/v1\/deployments\/([^/]+)$/, async (_req, _res, [name]) => {
      const d = deps.status().deployments.find((x) => x.name === name || x.endpoint === name);
      if (!d) throw notFound(`no deployment named '${name}'`);
      return d;
    }],
    ['POST', /^\/v1\/deployments\/([^/]+)\/scale$/, async (req, _res, [name]) => {
      const body = await jsonBody(req);
      return deps.commands.scale(name, body as { replicas?: number });
    }],
    ['DELETE', /^\/v1\/deployments\/([^/]+)$/, async (_req, _res, [target]) => ({ undeployed: await deps.commands.undeploy(target) })],
    ['GET', /^\/v1\/events$/, async (_req, _res, _p, q) =>
      deps.store.listEvents({
        subject: q.get('subject') ?? undefined,
        limit: q.has('limit') ? Number(q.get('limit')) : 50,
        afterId: q.has('after') ? Number(q.get('after')) : undefined,
      })],
    ['GET', /^\/v1\/deployments\/([^/]+)\/logs$/, async (req, res, [name], q) => {
      // An endpoint: all its deployments (primary, canary, a replacement); else the deployment of that name.
      const sources = (): LogSource[] => {
        const all = deps.store.listDeployments();
        const onEndpoint = all.filter((d) => d.endpoint === name);
        return (onEndpoint.length ? onEndpoint : all.filter((d) => d.name === name))
          .map((d) => ({ deployment: d.name, createdAt: d.createdAt, replicas: deps.store.listReplicas(d.name).map((r) => r.idx) }));
      };
      const found = sources();
      if (found.length === 0) throw notFound(`no deployment or endpoint named '${name}'; see mlserve status`);
      const lines = q.has('lines') ? Number(q.get('lines')) : 100;
      if (q.get('follow') === '1') {
        followLogs(deps.logDir, sources, lines, req, res);
        return undefined;
      }
      return { target: name, deployments: found.map((s) => s.deployment), lines: readLogs(deps.logDir, found, lines) };
    }],
    ['POST', /^\/v1\/shutdown$/, async () => {
      setImmediate(deps.shutdown);
      return { stopping: true };
    }],
  ];

  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://mlserve');
    const run = async () => {
      for (const [method, re, handler] of routes) {
        const m = re.exec(url.pathname);
        if (!m) continue;
        if (req.method !== method) continue;
        return handler(req, res, m.slice(1).map(decodeURIComponent), url.searchParams);
      }
      throw notFound(`no control route ${req.method} ${url.pathname}`);
    };
    run().then(
      (body) => {
        if (body === undefined) return; // streamed
        reply(res, 200, body);
      },
      (err) => {
        const e = asMlserveError(err);
        if (e.code === 'INTERNAL') console.error(`control: ${req.method} ${url.pathname}: ${e.stack ?? e.message}`);
        reply(res, e.status, { error: e.message, code: e.code });
      },
    );
  });
}

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Answer as NDJSON: progress lines (at most 10 a second) while `work` runs (a model downloads),
 * then {"result"} or {"error", "code"}.
 */
async function ndjson(res: http.ServerResponse, work: (progress: (p: unknown) => void) => Promise<unknown>): Promise<undefined> {
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  let last = 0;
  try {
    const result = await work((p) => {
      const now = Date.now();
      const x = p as { files?: number; totalFiles?: number; message?: string };
      if (x.message === undefined && now - last < 100 && (x.files ?? 0) < (x.totalFiles ?? 1)) return;
      last = now;
      res.write(`${JSON.stringify({ progress: p })}\n`);
    });
    res.end(`${JSON.stringify({ result })}\n`);
  } catch (err) {
    const e = asMlserveError(err);
    if (e.code === 'INTERNAL') console.error(`control: ${e.stack ?? e.message}`);
    res.end(`${JSON.stringify({ error: e.message, code: e.code })}\n`);
  }
  return undefined;
}

async function jsonBody(req: http.IncomingMessage, limit = 1 << 20): Promise<Record<string, unknown>> {
  const buf = await readBody(req, limit);
  try {
    const v = JSON.parse(buf.toString('utf8') || '{}');
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('expected a JSON object');
    return v as Record<string, unknown>;
  } catch (err) {
    throw new MlserveError('BAD_REQUEST', `malformed JSON: ${(err as Error).message}`);
  }
}
