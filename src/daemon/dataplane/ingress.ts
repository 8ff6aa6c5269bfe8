// The data plane's front door: node:http routes for the Open Inference Protocol v2 and MLflow's
// scoring protocol, body limits, JSON errors. Decoding lives in codecs/, queueing in dispatcher.
import http from 'node:http';
import { asMlserveError, MlserveError, notFound } from '../../errors.js';
import { decodeInvocations, encodePredictions, checkContentType } from './codecs/mlflow-json.js';
import { decodeInferRequest, encodeInferResponse } from './codecs/oip-json.js';
import { decodeBinaryRequest, encodeBinaryResponse } from './codecs/oip-binary.js';
import { splitTableInput } from './codecs/columns.js';
import { MLFLOW_JSON_TENSOR, MLFLOW_REQUEST_TENSOR, MLFLOW_STATUS_TENSOR } from '../../runtime/python/index.js';
import { VERSION } from '../../version.js';
import type { Metrics } from '../metrics.js';
import type { ClientGone } from './dispatcher.js';
import type { RouteTable, ServingTarget } from './routes.js';
import type { ShadowMirror } from './shadow.js';
import { openAiRoutes, type OpenAiHandler } from './openai/handler.js';

export interface IngressOptions {
  maxBodyBytes: number;
  metrics?: Metrics;
  /** Serve /metrics here (false when --metrics-port splits it off). */
  serveMetrics?: boolean;
}

/** The data plane's view of the daemon: routes (published by the reconcile loop) and the shadow mirror. */
export interface IngressDeps {
  routes: RouteTable;
  shadow: ShadowMirror;
  /** The OpenAI-compatible API under /v1 (LLM endpoints); made from the routes when not given. */
  openai?: OpenAiHandler;
}

type Runtime = ServingTarget;

/** What a request turned out to be, for its metrics. */
interface Ctx {
  rt?: Runtime;
  infer?: boolean;
}

type Reply = { status: number; body: unknown; headers?: Record<string, string>; chunks?: Buffer[] };

const json = (status: number, body: unknown, headers?: Record<string, string>): Reply => ({ status, body, headers });

export function createIngress(given: IngressDeps, opts: IngressOptions): http.Server {
  const deps = { ...given, openai: given.openai ?? openAiRoutes({ routes: given.routes, maxBodyBytes: opts.maxBodyBytes, readBody, metrics: opts.metrics }) };
  const server = http.createServer((req, res) => {
    const started = performance.now();
    const ctx: Ctx = {};
    const done = (status: number) => {
      if (ctx.infer && ctx.rt && opts.metrics) {
        const rt = ctx.rt;
        opts.metrics.observeRequest({ endpoint: rt.endpoint, deployment: rt.name, version: rt.version }, status, (performance.now() - started) / 1000);
      }
    };
    if (opts.serveMetrics && opts.metrics && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
      void serveMetrics(opts.metrics, res);
      return;
    }
    handle(deps, opts, req, res, ctx).then(
      (reply) => {
        done(reply.status);
        send(res, reply);
      },
      (err) => {
        const e = asMlserveError(err);
        if (e.code === 'INTERNAL') console.error(`ingress: ${req.method} ${req.url}: ${e.stack ?? e.message}`);
        done(e.status);
        send(res, { status: e.status, body: { error: e.message }, headers: e.headers });
      },
    );
  });
  server.keepAliveTimeout = 65_000;
  return server;
}

function send(res: http.ServerResponse, reply: Reply): void {
  if (res.writableEnded || res.destroyed) return;
  if (reply.chunks) {
    const length = reply.chunks.reduce((a, c) => a + c.length, 0);
    res.writeHead(reply.status, { 'content-type': 'application/octet-stream', 'content-length': length, ...reply.headers });
    res.cork();
    for (const c of reply.chunks) res.write(c);
    res.end();
    res.uncork();
    return;
  }
  const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...reply.headers,
  });
  res.end(text);
}

/** Read a request body up to `limit` bytes; past it, a 413 that says how to raise the limit. */
export function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    const tooLarge = () =>
      new MlserveError('PAYLOAD_TOO_LARGE', `request body is over the ${limit}-byte limit; send less data per request or start the daemon with a larger --max-body-size`);
    if (declared > limit) {
      req.resume();
      return reject(tooLarge());
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseJson(buf: Buffer): unknown {
  if (buf.length === 0) throw new MlserveError('BAD_REQUEST', 'request body is empty; send a JSON inference request');
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new MlserveError('BAD_REQUEST', `malformed JSON in request body: ${(err as Error).message}`);
  }
}

/** Marks the request abandoned when the client closes the connection before we answer. */
function clientGone(res: http.ServerResponse): ClientGone {
  const gone: ClientGone = { aborted: false };
  res.once('close', () => {
    if (res.writableFinished) return;
    gone.aborted = true;
    gone.onAbort?.();
  });
  return gone;
}

function requireSpec(rt: Runtime) {
  if (!rt.spec) {
    throw new MlserveError('NOT_READY', `endpoint ${rt.endpoint} is not ready (deployment ${rt.name} has no ready replica yet); see mlserve status`, {
      headers: { 'Retry-After': '1' },
    });
  }
  return rt.spec;
}

function checkVersion(rt: Runtime, version: string | undefined): void {
  if (version !== undefined && version !== rt.version) {
    throw notFound(`endpoint ${rt.endpoint} has no version ${version}; it serves version ${rt.version}`);
  }
}

function modelMetadata(rt: Runtime) {
  const spec = requireSpec(rt);
  return {
    name: rt.endpoint,
    versions: [rt.version],
    platform: rt.platform,
    inputs: spec.inputs,
    outputs: spec.outputs,
  };
}

/** Prometheus text format. */
export async function serveMetrics(metrics: Metrics, res: http.ServerResponse): Promise<void> {
  const text = await metrics.registry.metrics();
  res.writeHead(200, { 'content-type': metrics.registry.contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function handle(deps: IngressDeps, opts: IngressOptions, req: http.IncomingMessage, res: http.ServerResponse, ctx: Ctx): Promise<Reply> {
  const path = (req.url ?? '/').split('?')[0];
  const method = req.method ?? 'GET';
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);

  if (parts[0] === 'v1' && deps.openai) return deps.openai(req, res, ctx);
  if (parts[0] === 'v2') {
    if (parts.length === 1) return only(method, 'GET', () => json(200, { name: 'mlserve', version: VERSION, extensions: ['binary_tensor_data'] }));
    if (parts[1] === 'health' && parts.length === 3) {
      if (parts[2] === 'live') return only(method, 'GET', () => json(200, { live: true }));
      if (parts[2] === 'ready') {
        return only(method, 'GET', () => {
          const ready = deps.routes.allReady();
          return json(ready ? 200 : 503, { ready });
        });
      }
    }
    if (parts[1] === 'models' && parts.length >= 3) {
      const rt = deps.routes.target(parts[2], routeKey(req), Math.random());
      ctx.rt = rt;
      let rest = parts.slice(3);
      let version: string | undefined;
      if (rest[0] === 'versions') {
        version = rest[1];
        rest = rest.slice(2);
      }
      checkVersion(rt, version);
      if (rest.length === 0) return only(method, 'GET', () => json(200, modelMetadata(rt)));
      if (rest.length === 1 && rest[0] === 'ready') {
        return only(method, 'GET', () => {
          const ready = rt.readyReplicas() > 0 && rt.spec !== null;
          return json(ready ? 200 : 503, { name: rt.endpoint, ready });
        });
      }
      if (rest.length === 1 && rest[0] === 'infer') {
        if (method !== 'POST') throw new MlserveError('METHOD_NOT_ALLOWED', `use POST for ${path}`);
        ctx.infer = true;
        return inferOip(deps, rt, opts, req, res);
      }
    }
    throw notFound(`no route ${method} ${path}; see the Open Inference Protocol v2 paths under /v2`);
  }

  if (parts.length === 1 && (parts[0] === 'ping' || parts[0] === 'health')) {
    return only(method, 'GET', () => json(deps.routes.allReady() ? 200 : 503, '\n'));
  }
  if (parts.length === 1 && parts[0] === 'version') return only(method, 'GET', () => json(200, VERSION));
  if (parts.length === 2 && parts[1] === 'invocations') {
    const rt = deps.routes.target(parts[0], routeKey(req), Math.random());
    if (method !== 'POST') throw new MlserveError('METHOD_NOT_ALLOWED', `use POST for ${path}`);
    Object.assign(ctx, { rt, infer: true });
    return invocations(deps, rt, opts, req, res);
  }
  throw notFound(`no route ${method} ${path}; try POST /v2/models/<endpoint>/infer or POST /<endpoint>/invocations`);
}

function only(method: string, allowed: string, fn: () => Reply): Reply {
  if (method !== allowed) throw new MlserveError('METHOD_NOT_ALLOWED', `use ${allowed} for this route`);
  return fn();
}

/** The sticky-routing key: the same key reaches the same version at a given canary weight. */
function routeKey(req: http.IncomingMessage): string | undefined {
  const k = req.headers['x-mlserve-route-key'];
  return Array.isArray(k) ? k[0] : k;
}

/** Which deployment and version answered (also in OIP's model_version). */
const servedBy = (rt: Runtime) => ({ 'x-mlserve-deployment': rt.name, 'x-mlserve-model-version': rt.version });

function headerLength(req: http.IncomingMessage): number | undefined {
  const raw = req.headers['inference-header-content-length'];
  if (raw === undefined) return undefined;
  const n = Number(Array.isArray(raw) ? raw[0] : raw);
  if (!Number.isInteger(n) || n < 0) throw new MlserveError('BAD_REQUEST', `Inference-Header-Content-Length '${raw}' is not a byte count`);
  return n;
}

async function inferOip(deps: IngressDeps, rt: Runtime, opts: IngressOptions, req: http.IncomingMessage, res: http.ServerResponse): Promise<Reply> {
  const body = await readBody(req, opts.maxBodyBytes);
  const spec = requireSpec(rt);
  const binaryHeader = headerLength(req);
  // Triton's binary tensor extension: a JSON header, then raw tensor bytes (no JSON number parsing).
  const request = binaryHeader === undefined
    ? { ...decodeInferRequest(splitTableInput(parseJson(body), spec), spec), binaryOutputs: null }
    : decodeBinaryRequest(body, binaryHeader, spec);
  const inputs = request.inputs; // the decoders check them against the signature, once
  const result = await rt.dispatcher.submit(inputs, request.outputs, clientGone(res));
  deps.shadow.mirror(deps.routes.get(rt.endpoint), rt, inputs, request.outputs, result.outputs);
  if (request.binaryOutputs) {
    const out = encodeBinaryResponse({
      modelName: rt.endpoint, modelVersion: rt.version, id: request.id, outputs: result.outputs, requested: request.outputs, binary: request.binaryOutputs,
    });
    return { status: 200, body: null, headers: { 'inference-header-content-length': String(out.headerLength), ...servedBy(rt) }, chunks: [out.header, ...out.blobs] };
  }
  return json(
    200,
    encodeInferResponse({
      modelName: rt.endpoint,
      modelVersion: rt.version,
      id: request.id,
      outputs: result.outputs,
      requested: request.outputs,
    }),
    servedBy(rt),
  );
}

async function invocations(deps: IngressDeps, rt: Runtime, opts: IngressOptions, req: http.IncomingMessage, res: http.ServerResponse): Promise<Reply> {
  checkContentType(req.headers['content-type']);
  const body = await readBody(req, opts.maxBodyBytes);
  const spec = requireSpec(rt);
  if (rt.platform === 'mlflow') return invocationsInReplica(deps, rt, body, res);
  const inputs = decodeInvocations(parseJson(body), spec); // checked against the signature by the decoder
  const result = await rt.dispatcher.submit(inputs, undefined, clientGone(res));
  deps.shadow.mirror(deps.routes.get(rt.endpoint), rt, inputs, undefined, result.outputs);
  return json(200, encodePredictions(result.outputs), servedBy(rt));
}

/**
 * A Python (pyfunc) model: the body goes to the replica as it came, where MLflow's own scoring-server
 * code parses it and formats the answer, so the status and JSON equal `mlflow models serve`'s.
 */
async function invocationsInReplica(deps: IngressDeps, rt: Runtime, body: Buffer, res: http.ServerResponse): Promise<Reply> {
  const inputs = [{ name: MLFLOW_REQUEST_TENSOR, datatype: 'BYTES' as const, shape: [1], data: [body.toString('utf8')] }];
  const result = await rt.dispatcher.submit(inputs, undefined, clientGone(res));
  const answer = result.outputs.find((t) => t.name === MLFLOW_JSON_TENSOR);
  const status = result.outputs.find((t) => t.name === MLFLOW_STATUS_TENSOR);
  if (!answer || !status || !Array.isArray(answer.data)) throw new MlserveError('INTERNAL', 'the Python replica answered /invocations without its JSON body');
  deps.shadow.mirror(deps.routes.get(rt.endpoint), rt, inputs, undefined, result.outputs);
  return { status: Number(status.data[0]), body: answer.data[0], headers: servedBy(rt) };
}
