// The OpenAPI 3.1 document the ingress serves at /openapi.json: one set of paths per endpoint, with
// request and response schemas made from its model's signature (and its pipeline's /predict), an
// example request per route, and the error answers. PURE: it reads what the routing table says.
import { exampleRequest } from '../runtime/example.js';
import type { PipelineSpec } from '../pipeline/spec.js';
import type { DType, Signature, TensorSpec } from '../tensor.js';

export interface DocEndpoint {
  endpoint: string;
  version: string;
  platform: string;
  /** Null until a replica reported it: the routes are then described without the model's tensors. */
  spec: Signature | null;
  pipeline: PipelineSpec | null;
}

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema, example?: unknown): Schema => ({ 'application/json': { schema, ...(example !== undefined ? { example } : {}) } });
const errorResponse = (description: string): Schema => ({ description, content: json(ref('Error')) });

/** The error answers every inference route can give (see the README's Inference API). */
const INFER_ERRORS: Record<string, Schema> = {
  400: errorResponse('a bad request: which input, expected vs got shape or dtype, a value out of range'),
  404: errorResponse('no such endpoint or version'),
  413: errorResponse('the body (or an image, a text) is over its limit'),
  415: errorResponse('a content type this route does not take'),
  503: errorResponse('not ready, queue full or too many connections (with Retry-After)'),
  504: errorResponse('the deadline passed'),
};

function valueSchema(datatype: DType): Schema {
  if (datatype === 'BYTES') return { type: 'string' };
  if (datatype === 'BOOL') return { type: 'boolean' };
  if (datatype.startsWith('FP')) return { type: 'number' };
  return { type: 'integer' };
}

/** Nested or flat data of one datatype (OIP allows both). */
function dataSchema(datatype: DType): Schema {
  return { type: 'array', items: { anyOf: [valueSchema(datatype), { type: 'array' }] } };
}

function inputSchema(t: TensorSpec): Schema {
  return {
    type: 'object',
    required: ['name', 'shape', 'datatype', 'data'],
    properties: {
      name: { const: t.name },
      shape: { type: 'array', items: { type: 'integer', minimum: 0 }, description: `the model declares [${t.shape.join(', ')}] (-1: any size)` },
      datatype: { const: t.datatype },
      data: dataSchema(t.datatype),
      parameters: { type: 'object' },
    },
  };
}

function inferRequest(spec: Signature | null): Schema {
  const inputs = spec ? { type: 'array', minItems: 1, items: spec.inputs.length === 1 ? inputSchema(spec.inputs[0]!) : { oneOf: spec.inputs.map(inputSchema) } } : { type: 'array', items: ref('RequestInput') };
  const outputNames = spec ? { enum: spec.outputs.map((o) => o.name) } : { type: 'string' };
  return {
    type: 'object',
    required: ['inputs'],
    properties: {
      id: { type: 'string' },
      parameters: { type: 'object' },
      inputs,
      outputs: { type: 'array', items: { type: 'object', required: ['name'], properties: { name: outputNames, parameters: { type: 'object' } } } },
    },
  };
}

/** Examples above this many values are left out: a 224x224 image is 150,528 numbers, too big for a docs page. */
const MAX_EXAMPLE_VALUES = 4096;

/** An example request built from the signature, when it is small enough to show. */
function example(spec: Signature | null) {
  const ex = spec ? exampleRequest(spec.inputs) : undefined;
  return ex && ex.inputs.reduce((n, i) => n + i.data.length, 0) <= MAX_EXAMPLE_VALUES ? ex : undefined;
}

function predictRoute(e: DocEndpoint): Schema {
  const p = e.pipeline!;
  const pre = p.pre[0];
  let content: Schema;
  if (pre?.kind === 'image') {
    const binary = { type: 'string', contentMediaType: 'application/octet-stream' };
    content = {
      'multipart/form-data': { schema: { type: 'object', required: ['file'], properties: { file: binary } }, encoding: { file: { contentType: 'image/jpeg, image/png, image/webp' } } },
      'image/jpeg': { schema: binary },
      'image/png': { schema: binary },
      'image/webp': { schema: binary },
      ...json({ type: 'object', required: ['image'], properties: { image: { type: 'string', contentEncoding: 'base64', description: 'the image file in base64 (or a data: URL)' } } }),
    };
  } else if (pre?.kind === 'text') {
    content = {
      ...json({ type: 'object', required: ['text'], properties: { text: { oneOf: [{ type: 'string' }, { type: 'array', minItems: 1, items: { type: 'string' } }] } } }, { text: 'A man is eating food.' }),
      'text/plain': { schema: { type: 'string' } },
    };
  } else content = json(inferRequest(e.spec), example(e.spec));
  const stages = [...p.pre, ...p.post].map((s) => s.kind).join(' > ');
  return {
    post: {
      tags: [e.endpoint],
      summary: `${e.endpoint}: predict (pipeline ${stages})`,
      operationId: `predict_${e.endpoint}`,
      requestBody: { required: true, content },
      responses: { 200: { description: 'the answer of the post-processing stages', content: json(ref('PredictAnswer')) }, ...INFER_ERRORS },
    },
  };
}

/** Flat data as nested lists of `shape` (MLflow's tensor inputs are nested). */
function nest(data: unknown[], shape: number[]): unknown {
  if (shape.length <= 1) return data;
  const step = data.length / shape[0]!;
  return Array.from({ length: shape[0]! }, (_, i) => nest(data.slice(i * step, (i + 1) * step), shape.slice(1)));
}

function endpointPaths(e: DocEndpoint): Record<string, Schema> {
  const tag = [e.endpoint];
  const ex = example(e.spec);
  const paths: Record<string, Schema> = {
    [`/v2/models/${e.endpoint}`]: {
      get: { tags: tag, summary: `${e.endpoint}: model metadata (inputs, outputs)`, operationId: `metadata_${e.endpoint}`, responses: { 200: { description: 'the model metadata', content: json(ref('ModelMetadata')) }, 404: errorResponse('no such endpoint'), 503: errorResponse('not ready yet') } },
    },
    [`/v2/models/${e.endpoint}/ready`]: {
      get: { tags: tag, summary: `${e.endpoint}: ready?`, operationId: `ready_${e.endpoint}`, responses: { 200: { description: 'ready', content: json(ref('ModelReady')) }, 503: { description: 'not ready', content: json(ref('ModelReady')) } } },
    },
    [`/v2/models/${e.endpoint}/infer`]: {
      post: {
        tags: tag,
        summary: `${e.endpoint}: infer (Open Inference Protocol v2)`,
        description: `Model version ${e.version} (${e.platform}). Tensors as JSON; Triton's binary tensor extension is also taken (Inference-Header-Content-Length).`,
        operationId: `infer_${e.endpoint}`,
        requestBody: { required: true, content: json(inferRequest(e.spec), ex) },
        responses: { 200: { description: 'the outputs', content: json(ref('InferenceResponse')) }, ...INFER_ERRORS },
      },
    },
    [`/${e.endpoint}/invocations`]: {
      post: {
        tags: tag,
        summary: `${e.endpoint}: MLflow scoring (/invocations)`,
        operationId: `invocations_${e.endpoint}`,
        requestBody: { required: true, content: json(ref('MlflowRequest'), ex ? { inputs: Object.fromEntries(ex.inputs.map((i) => [i.name, nest(i.data, i.shape)])) } : undefined) },
        responses: { 200: { description: 'MLflow\'s {"predictions": ...}', content: json({ type: 'object', required: ['predictions'], properties: { predictions: {} } }) }, ...INFER_ERRORS },
      },
    },
  };
  if (e.pipeline) paths[`/v2/models/${e.endpoint}/predict`] = predictRoute(e);
  return paths;
}

const tensorOut: Schema = { type: 'object', required: ['name', 'shape', 'datatype', 'data'], properties: { name: { type: 'string' }, shape: { type: 'array', items: { type: 'integer' } }, datatype: { type: 'string' }, data: { type: 'array' }, parameters: { type: 'object' } } };
const pick: Schema = { type: 'object', properties: { index: { type: 'integer' }, label: { type: 'string' }, score: { type: 'number' } } };

const COMPONENTS: Record<string, Schema> = {
  Error: { type: 'object', required: ['error'], properties: { error: { type: 'string', description: 'what was wrong and what to do' } } },
  RequestInput: { type: 'object', required: ['name', 'shape', 'datatype', 'data'], properties: { name: { type: 'string' }, shape: { type: 'array', items: { type: 'integer', minimum: 0 } }, datatype: { type: 'string' }, data: { type: 'array' }, parameters: { type: 'object' } } },
  InferenceResponse: { type: 'object', required: ['model_name', 'outputs'], properties: { model_name: { type: 'string' }, model_version: { type: 'string' }, id: { type: 'string' }, outputs: { type: 'array', items: tensorOut } } },
  ModelMetadata: {
    type: 'object', required: ['name', 'versions', 'platform', 'inputs', 'outputs'],
    properties: { name: { type: 'string' }, versions: { type: 'array', items: { type: 'string' } }, platform: { type: 'string' }, inputs: { type: 'array', items: { type: 'object' } }, outputs: { type: 'array', items: { type: 'object' } } },
  },
  ModelReady: { type: 'object', required: ['name', 'ready'], properties: { name: { type: 'string' }, ready: { type: 'boolean' } } },
  MlflowRequest: {
    type: 'object',
    description: 'one of dataframe_split, dataframe_records, instances or inputs (MLflow\'s scoring protocol)',
    properties: { dataframe_split: { type: 'object' }, dataframe_records: { type: 'array' }, instances: {}, inputs: {}, params: { type: 'object' } },
  },
  PredictAnswer: {
    description: 'with a class-picking stage: the best class and the list; else the scores or the embedding; several rows: predictions',
    anyOf: [
      { type: 'object', required: ['top'], properties: { label: { type: ['string', 'null'] }, index: { type: ['integer', 'null'] }, score: { type: ['number', 'null'] }, top: { type: 'array', items: pick } } },
      { type: 'object', required: ['embedding'], properties: { embedding: { type: 'array', items: { type: 'number' } } } },
      { type: 'object', required: ['scores'], properties: { scores: {} } },
      { type: 'object', required: ['predictions'], properties: { predictions: { type: 'array' } } },
      { type: 'object' },
    ],
  },
};

const SERVER_PATHS: Record<string, Schema> = {
  '/v2': { get: { tags: ['server'], summary: 'server metadata', operationId: 'server_metadata', responses: { 200: { description: 'name, version, extensions', content: json({ type: 'object' }) } } } },
  '/v2/health/live': { get: { tags: ['server'], summary: 'live?', operationId: 'server_live', responses: { 200: { description: 'live', content: json({ type: 'object' }) } } } },
  '/v2/health/ready': { get: { tags: ['server'], summary: 'ready? (every endpoint, with --strict-readiness)', operationId: 'server_ready', responses: { 200: { description: 'ready', content: json({ type: 'object' }) }, 503: { description: 'not ready', content: json({ type: 'object' }) } } } },
  '/v2/repository/index': {
    post: {
      tags: ['server'], summary: 'what is served (Triton\'s repository index)', operationId: 'repository_index',
      requestBody: { required: false, content: json({ type: 'object', properties: { ready: { type: 'boolean' } } }) },
      responses: { 200: { description: 'one entry per endpoint and version', content: json({ type: 'array', items: { type: 'object' } }) }, 400: errorResponse('a bad body') },
    },
  },
};

/** The whole document for these endpoints (sorted by name); `bearer` when the ingress wants a token. */
export function openApiDocument(endpoints: readonly DocEndpoint[], opts: { version: string; bearer: boolean }): Schema {
  const paths: Record<string, Schema> = { ...SERVER_PATHS };
  for (const e of [...endpoints].sort((a, b) => a.endpoint.localeCompare(b.endpoint))) Object.assign(paths, endpointPaths(e));
  return {
    openapi: '3.1.0',
    info: {
      title: 'mlserve',
      version: opts.version,
      description: 'Models served by mlserve: the Open Inference Protocol v2 (`/v2/models/{endpoint}/infer`), MLflow\'s scoring protocol (`/{endpoint}/invocations`) and pipeline endpoints (`/v2/models/{endpoint}/predict`). Made from what is deployed now.',
    },
    servers: [{ url: '/' }],
    tags: [{ name: 'server', description: 'health and discovery' }, ...endpoints.map((e) => ({ name: e.endpoint, description: `model version ${e.version} (${e.platform})` }))],
    paths,
    components: { schemas: COMPONENTS, ...(opts.bearer ? { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'the token of the daemon\'s --token / MLSERVE_TOKEN' } } } : {}) },
    ...(opts.bearer ? { security: [{ bearer: [] }] } : {}),
  };
}
