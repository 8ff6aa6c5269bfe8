// The data plane's front door: node:http routes for the Open Inference Protocol v2 and MLflow's
// scoring protocol, JSON errors, and the guards in front of them: Host check and bearer token
// (auth.ts), connection cap and timeouts (http-limits.ts), body limits (body.ts), load shed before
// the body is read (admission.ts), big JSON bodies parsed on worker threads (json-pool.ts).
// Decoding lives in codecs/, queueing in dispatcher.
import type http from 'node:http';
import { asMlserveError, badRequest, MlserveError, notFound } from '../../errors.js';
import { encodePredictions, checkContentType } from './codecs/mlflow-json.js';
import { encodeInferResponse } from './codecs/oip-json.js';
import { sharedMemoryRoute, writeShmOutputs } from './shm-route.js';
import { decodeBinaryRequest, encodeBinaryResponse } from './codecs/oip-binary.js';
import { checkJsonDepth, decodeJsonBody, parseJsonBody, type DecodedJson, type JsonRoute } from './codecs/json-body.js';
import { MLFLOW_JSON_TENSOR, MLFLOW_REQUEST_TENSOR, MLFLOW_STATUS_TENSOR } from '../../runtime/python/index.js';
import { VERSION } from '../../version.js';
import type { Signature, Tensor } from '../../tensor.js';
import { inferBodyKind, shedBeforeBody } from './admission.js';
import { forbiddenHost } from './auth.js';
import { readBody } from './body.js';
import type { ClientGone } from './dispatcher.js';
import { withoutStack } from './dispatch-rules.js';
import { createLimitedServer, type IngressServer } from './http-limits.js';
import { authorize, clientGone, environment, json, metricsReply, only, send, type Ctx, type Env, type IngressOptions, type Reply } from './ingress-env.js';
import type { RouteTable, ServingTarget } from './routes.js';
import type { ShadowMirror } from './shadow.js';
import { repositoryRoute } from './repository.js';
import { mlflowWebhook, type WebhookOptions } from './webhook.js';
import { openAiRoutes, type OpenAiHandler } from './openai/handler.js';
import { runPredict } from '../../pipeline/pipeline.js';
import { docsReply, openApiReply } from './docs-route.js';
import type { ImageStage } from '../../pipeline/spec.js';

export { readBody } from './body.js';
export { createMetricsServer, type IngressOptions } from './ingress-env.js';
export type { IngressServer } from './http-limits.js';

/** The data plane's view of the daemon: routes (published by the reconcile loop) and the shadow mirror. */
export interface IngressDeps {
  routes: RouteTable;
  shadow: ShadowMirror;
  /** MLflow registry webhooks (POST /v1/mlflow/webhook), when MLSERVE_WEBHOOK_SECRET is set. */
  webhook?: WebhookOptions;
  /** The OpenAI-compatible API under /v1 (LLM endpoints); made from the routes when not given. */
  openai?: OpenAiHandler;
  /** Payload capture: sees every answered OIP and /invocations request (it samples and queues, off the request path). */
  capture?: CaptureSink;
}

/** What the ingress tells payload capture: the request, its answer, when it arrived (performance.now()). */
export interface CaptureSink {
  offer(served: { endpoint: string; name: string; version: string }, inputs: Tensor[] | { mlflowJson: string }, outputs: Tensor[] | { mlflowJson: string }, startedAt: number, requestId?: string): void;
}

type Runtime = ServingTarget;

export function createIngress(given: IngressDeps, opts: IngressOptions): IngressServer {
  const env = environment(opts);
  const deps = { ...given, openai: given.openai ?? openAiRoutes({ routes: given.routes, maxBodyBytes: env.limits.maxJsonBodyBytes, readBody, metrics: opts.metrics }) };
  const server = createLimitedServer(env.limits, env.security.tls, (req, res) => {
    const ctx: Ctx = { gone: clientGone(res), started: performance.now() };
    const done = (status: number) => {
      if (ctx.infer && ctx.rt && env.metrics) {
        const rt = ctx.rt;
        // A client that left before its answer is a 499 (nginx's), whatever became of the request.
        env.metrics.observeRequest({ endpoint: rt.endpoint, deployment: rt.name, version: rt.version }, ctx.gone.aborted ? 499 : status, (performance.now() - ctx.started) / 1000);
      }
    };
    handle(env, deps, req, res, ctx).then(
      (reply) => {
        done(reply.status);
        send(env, req, res, ctx, reply);
      },
      (err) => {
        const e = asMlserveError(err);
        if (e.code === 'INTERNAL') console.error(`ingress: ${req.method} ${req.url}: ${e.stack ?? e.message}`);
        done(e.status);
        send(env, req, res, ctx, { status: e.status, body: { error: e.message }, headers: e.headers });
      },
    );
  });
  server.on('close', () => {
    void env.pool.close();
    void env.images.close();
    env.shm?.close();
  });
  return server;
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

const WEBHOOK_PATH = '/v1/mlflow/webhook';

/** Health probes answer without the token (load balancers and orchestrators call them). */
const isProbe = (parts: string[]) =>
  (parts.length === 3 && parts[0] === 'v2' && parts[1] === 'health') || (parts.length === 1 && (parts[0] === 'ping' || parts[0] === 'health'));

function decodePath(path: string): string[] {
  try {
    return path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw badRequest(`malformed percent-escape in the path '${path.length > 200 ? `${path.slice(0, 200)}...` : path}'; a literal % is written %25`);
  }
}

async function handle(env: Env, deps: IngressDeps, req: http.IncomingMessage, res: http.ServerResponse, ctx: Ctx): Promise<Reply> {
  if (!env.hostOk(req.headers.host)) throw forbiddenHost(String(req.headers.host));
  const path = (req.url ?? '/').split('?')[0]!;
  const method = req.method ?? 'GET';
  const parts = decodePath(path);
  if (env.serveMetrics && env.metrics && parts.length === 1 && parts[0] === 'metrics') {
    if (env.security.metricsAuth) authorize(env, req);
    return metricsReply(env.metrics);
  }
  // The docs page and its files are static (no model data): served without the token, which the page then sends.
  if (parts[0] === 'docs') return only(method, 'GET', () => docsReply(parts)!);
  // MLflow's webhooks carry no bearer token: they are signed with MLSERVE_WEBHOOK_SECRET instead (webhook.ts).
  if (!isProbe(parts) && path !== WEBHOOK_PATH) authorize(env, req);
  if (parts.length === 1 && parts[0] === 'openapi.json') {
    if (!env.listEndpoints) throw notFound('the API document names every endpoint, so it is served only on a loopback ingress or with a token (--token)');
    return only(method, 'GET', () => openApiReply(deps.routes, env.authOk !== null));
  }
  const target = (endpoint: string) => deps.routes.target(endpoint, routeKey(req), Math.random(), env.listEndpoints);

  // The OpenAI API streams (SSE): it writes its own answer, and send() then has nothing left to do.
  if (parts[0] === 'v1' && path !== WEBHOOK_PATH && deps.openai) return deps.openai(req, res, ctx);
  if (parts[0] === 'v2') {
    if (parts.length === 1) return only(method, 'GET', () => json(200, { name: 'mlserve', version: VERSION, extensions: env.shm ? ['binary_tensor_data', 'system_shared_memory'] : ['binary_tensor_data'] }));
    if (parts[1] === 'systemsharedmemory') return sharedMemoryRoute(env, req, method, parts.slice(2), path);
    if (parts[1] === 'health' && parts.length === 3) {
      if (parts[2] === 'live') return only(method, 'GET', () => json(200, { live: true }));
      if (parts[2] === 'ready') {
        return only(method, 'GET', () => {
          const ready = deps.routes.serverReady(env.strictReadiness);
          return json(ready ? 200 : 503, { ready });
        });
      }
    }
    const repo = repositoryRoute(deps.routes, method, parts, async () => {
      const buf = await readBody(req, env.limits.maxJsonBodyBytes, { idleMs: env.limits.bodyTimeoutMs, limitFlag: '--max-json-body-size' });
      return buf.length ? parseJsonBody(buf) : undefined;
    });
    if (repo) {
      const r = await repo;
      return json(r.status, r.body);
    }
    if (parts[1] === 'models' && parts.length >= 3) {
      const rt = target(parts[2]!);
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
        return inferOip(env, deps, rt, req, ctx);
      }
      if (rest.length === 1 && rest[0] === 'predict') {
        if (method !== 'POST') throw new MlserveError('METHOD_NOT_ALLOWED', `use POST for ${path}`);
        if (!rt.pipeline) throw notFound(`endpoint ${rt.endpoint} has no pipeline, so no /predict; deploy it with --pre/--post (or pipeline: in mlserve.yaml), or send tensors to /v2/models/${rt.endpoint}/infer`);
        ctx.infer = true;
        return predict(env, deps, rt, req, ctx);
      }
    }
    throw notFound(`no route ${method} ${path}; see the Open Inference Protocol v2 paths under /v2`);
  }

  if (path === WEBHOOK_PATH) {
    const body = deps.webhook && method === 'POST' ? await readBody(req, 1 << 20, { idleMs: env.limits.bodyTimeoutMs, limitFlag: 'the webhook limit (1 MiB)' }) : Buffer.alloc(0);
    const r = mlflowWebhook(deps.webhook, method, req.headers, body);
    return json(r.status, r.body);
  }
  if (parts.length === 1 && (parts[0] === 'ping' || parts[0] === 'health')) {
    return only(method, 'GET', () => json(deps.routes.serverReady(env.strictReadiness) ? 200 : 503, '\n'));
  }
  if (parts.length === 1 && parts[0] === 'version') return only(method, 'GET', () => json(200, VERSION));
  if (parts.length === 2 && parts[1] === 'invocations') {
    const rt = target(parts[0]!);
    if (method !== 'POST') throw new MlserveError('METHOD_NOT_ALLOWED', `use POST for ${path}`);
    Object.assign(ctx, { rt, infer: true });
    return invocations(env, deps, rt, req, ctx);
  }
  throw notFound(`no route ${method} ${path}; try POST /v2/models/<endpoint>/infer or POST /<endpoint>/invocations`);
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

/**
 * Before the body: refuse at once what the headers already decide (wrong content type, not ready,
 * queue full), then read it within its limit and idle timeout.
 */
async function admitAndRead(env: Env, rt: Runtime, req: http.IncomingMessage, ctx: Ctx, kind: 'json' | 'binary', binaryHeader?: number): Promise<{ spec: Signature; body: Buffer; release?: () => void }> {
  const spec = requireSpec(rt);
  const refused = shedBeforeBody(rt);
  if (refused) {
    ctx.shed = refused.code === 'OVERLOADED';
    throw refused;
  }
  const json = kind === 'json';
  const limit = json ? env.limits.maxJsonBodyBytes : env.limits.maxBodyBytes;
  const declared = Number(req.headers['content-length'] ?? 0);
  const big = json && declared >= env.limits.jsonOffloadBytes;
  const release = big ? env.pool.reserve(declared) : undefined;
  if (release === null) {
    ctx.shed = true;
    throw withoutStack(() => new MlserveError('OVERLOADED', 'too many big JSON bodies are being read and parsed at once; retry later, or send tensors with the binary extension', { headers: { 'Retry-After': '1' } }));
  }
  ctx.reading = true;
  try {
    const body = await readBody(req, limit, {
      idleMs: env.limits.bodyTimeoutMs,
      limitFlag: json && env.limits.maxJsonBodyBytes < env.limits.maxBodyBytes ? '--max-json-body-size' : '--max-body-size',
      ownBuffer: big,
      // The tensor blobs start right after the binary extension's JSON header: read them aligned (no copy to view them).
      ...(binaryHeader !== undefined ? { alignAt: binaryHeader } : {}),
    });
    return { spec, body, release };
  } catch (err) {
    release?.();
    throw err;
  }
}

/** A JSON body to checked tensors: on the event loop when small, on a worker thread when big. */
function decodeJson(env: Env, route: JsonRoute, read: { spec: Signature; body: Buffer; release?: () => void }, ctx: Ctx): DecodedJson | Promise<DecodedJson> {
  const { body, spec, release } = read;
  if (body.length >= env.limits.jsonOffloadBytes) return env.pool.decode(route, body, spec, ctx.gone).finally(() => release?.());
  release?.();
  // Shared-memory inputs are read here (a request that names regions is small: it carries no values).
  const shm = env.shm;
  return decodeJsonBody(route, body, spec, shm ? (ref, what) => shm.read(ref, what) : undefined);
}

async function inferOip(env: Env, deps: IngressDeps, rt: Runtime, req: http.IncomingMessage, ctx: Ctx): Promise<Reply> {
  const binaryHeader = headerLength(req);
  const kind = inferBodyKind(req.headers['content-type'], binaryHeader !== undefined);
  const read = await admitAndRead(env, rt, req, ctx, kind, binaryHeader);
  const { spec, body } = read;
  // Triton's binary tensor extension: a JSON header, then raw tensor bytes (no JSON number parsing).
  let request;
  if (binaryHeader === undefined) request = { ...(await decodeJson(env, 'oip', read, ctx)), binaryOutputs: null };
  else {
    checkJsonDepth(body.subarray(0, Math.min(binaryHeader, body.length)));
    request = decodeBinaryRequest(body, binaryHeader, spec);
  }
  const inputs = request.inputs; // the decoders check them against the signature, once
  const result = await rt.dispatcher.submit(inputs, request.outputs, ctx.gone);
  deps.shadow.mirror(deps.routes.get(rt.endpoint), rt, inputs, request.outputs, result.outputs);
  deps.capture?.offer(rt, inputs, result.outputs, ctx.started, request.id);
  if (request.binaryOutputs) {
    const out = encodeBinaryResponse({
      modelName: rt.endpoint, modelVersion: rt.version, id: request.id, outputs: result.outputs, requested: request.outputs, binary: request.binaryOutputs,
    });
    return { status: 200, body: null, headers: { 'inference-header-content-length': String(out.headerLength), ...servedBy(rt) }, chunks: [out.header, ...out.blobs] };
  }
  const answer = encodeInferResponse({
    modelName: rt.endpoint,
    modelVersion: rt.version,
    id: request.id,
    outputs: result.outputs,
    requested: request.outputs,
  });
  return json(200, 'shmOutputs' in request && request.shmOutputs ? writeShmOutputs(env, answer, result.outputs, request.shmOutputs) : answer, servedBy(rt));
}

/** A pipeline endpoint: an image (or OIP JSON) in, pre-processing, the model's queue, post-processing, a JSON answer. */
async function predict(env: Env, deps: IngressDeps, rt: Runtime, req: http.IncomingMessage, ctx: Ctx): Promise<Reply> {
  const read = await admitAndRead(env, rt, req, ctx, rt.pipeline!.spec.pre.length ? 'binary' : 'json');
  if (rt.pipeline!.spec.pre.length) read.release?.();
  const target = { spec: read.spec, maxRows: rt.dispatchOptions().maxBatchSize, submit: (inputs: Tensor[], outputs: string[] | undefined) => rt.dispatcher.submit(inputs, outputs, ctx.gone) };
  const decode = async () => (await decodeJson(env, 'oip', read, ctx)).inputs;
  const toTensor = (bytes: Buffer, stage: ImageStage, input: string, batched: boolean) => env.images.toTensor(bytes, stage, input, batched, ctx.gone);
  // Model and ensemble stages: other endpoints' models, through their own routes and queues (a canary takes its share).
  const call = (endpoint: string) => {
    let other: Runtime;
    try {
      other = deps.routes.target(endpoint, routeKey(req), Math.random(), false);
    } catch {
      throw new MlserveError('NOT_READY', `endpoint ${rt.endpoint}'s pipeline calls endpoint ${endpoint}, which is not deployed; deploy it (mlserve status shows what runs)`, { headers: { 'Retry-After': '1' } });
    }
    const spec = requireSpec(other);
    return { spec, submit: (inputs: Tensor[]) => other.dispatcher.submit(inputs, undefined, ctx.gone) };
  };
  const { answer, inputs, outputs } = await runPredict(rt.pipeline!, target, { contentType: req.headers['content-type'], body: read.body, decodeTensors: decode, toTensor, call });
  deps.shadow.mirror(deps.routes.get(rt.endpoint), rt, inputs, undefined, outputs);
  deps.capture?.offer(rt, inputs, outputs, ctx.started);
  return json(200, answer, servedBy(rt));
}

async function invocations(env: Env, deps: IngressDeps, rt: Runtime, req: http.IncomingMessage, ctx: Ctx): Promise<Reply> {
  checkContentType(req.headers['content-type']);
  const read = await admitAndRead(env, rt, req, ctx, 'json');
  if (rt.platform === 'mlflow') {
    read.release?.();
    return invocationsInReplica(deps, rt, read.body, ctx);
  }
  const inputs = (await decodeJson(env, 'invocations', read, ctx)).inputs; // checked against the signature by the decoder
  const result = await rt.dispatcher.submit(inputs, undefined, ctx.gone);
  deps.shadow.mirror(deps.routes.get(rt.endpoint), rt, inputs, undefined, result.outputs);
  deps.capture?.offer(rt, inputs, result.outputs, ctx.started);
  return json(200, encodePredictions(result.outputs), servedBy(rt));
}

/**
 * A Python (pyfunc) model: the body goes to the replica as it came, where MLflow's own scoring-server
 * code parses it and formats the answer, so the status and JSON equal `mlflow models serve`'s.
 */
async function invocationsInReplica(deps: IngressDeps, rt: Runtime, body: Buffer, ctx: Ctx): Promise<Reply> {
  const text = body.toString('utf8');
  const inputs = [{ name: MLFLOW_REQUEST_TENSOR, datatype: 'BYTES' as const, shape: [1], data: [text] }];
  const result = await rt.dispatcher.submit(inputs, undefined, ctx.gone);
  const answer = result.outputs.find((t) => t.name === MLFLOW_JSON_TENSOR);
  const status = result.outputs.find((t) => t.name === MLFLOW_STATUS_TENSOR);
  if (!answer || !status || !Array.isArray(answer.data)) throw new MlserveError('INTERNAL', 'the Python replica answered /invocations without its JSON body');
  deps.shadow.mirror(deps.routes.get(rt.endpoint), rt, inputs, undefined, result.outputs);
  if (Number(status.data[0]) === 200) deps.capture?.offer(rt, { mlflowJson: text }, { mlflowJson: String(answer.data[0]) }, ctx.started);
  return { status: Number(status.data[0]), body: answer.data[0], headers: servedBy(rt) };
}
