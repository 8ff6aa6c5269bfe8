// KServe InferenceService manifests (serving.kserve.io/v1beta1) from what the daemon serves: one
// per endpoint, as data and as commented multi-document YAML. PURE: no I/O.
import { Document, isMap, isScalar } from 'yaml';
import type { Signature } from '../tensor.js';
import { tritonConfig } from './triton.js';

/** The parts of GET /v1/status this export reads (kept structural so daemon changes stay cheap). */
export interface ExportStatus {
  /** Endpoints with their canary and its share of traffic (percent), as GET /v1/status has them. */
  endpoints?: { name: string; primary?: string | null; canary?: string | null; canaryWeight?: number }[];
  deployments: ExportDeployment[];
}

export interface ExportDeployment {
  name: string;
  endpoint: string;
  modelUri: string;
  /** The model file the replicas load (the daemon's cached copy) and its signature as served. */
  modelFile?: string;
  signature?: Signature | null;
  spec?: Signature | null;
  resolved: { kind?: string; name?: string; version?: string; source?: string; registry?: string; stage?: string };
  settings: {
    runtime?: string;
    replicas: number;
    gpus?: number;
    requestTimeoutMs?: number;
    maxOngoingRequests?: number;
    autoscaling?: { min_replicas: number; max_replicas: number; target_ongoing_requests?: number } | null;
    maxBatchSize?: number;
    batchWaitMs?: number;
    maxConcurrentBatches?: number;
  };
  state?: string;
}

export interface InferenceService {
  apiVersion: 'serving.kserve.io/v1beta1';
  kind: 'InferenceService';
  metadata: { name: string; namespace?: string; annotations: Record<string, string> };
  spec: { predictor: Predictor };
}

export interface Predictor {
  minReplicas: number;
  maxReplicas: number;
  scaleMetric?: 'concurrency';
  scaleTarget?: number;
  containerConcurrency?: number;
  timeout?: number;
  canaryTrafficPercent?: number;
  model: {
    modelFormat: { name: 'mlflow' | 'onnx' };
    protocolVersion: 'v2';
    storageUri: string;
    resources?: { limits: Record<string, number> };
  };
}

/** One manifest, the endpoint it came from, and what the operator must know about it. */
export interface ExportedService {
  endpoint: string;
  manifest: InferenceService;
  /** YAML comments keyed by a dotted path into the manifest ('' = above the document). */
  comments: Record<string, string>;
  /** True when storageUri is a placeholder the operator must replace. */
  needsUpload: boolean;
  /** A plain .onnx model: the Triton model repository to write (folder named like the manifest) and upload. */
  triton?: { folder: string; model: string; config: string; modelFile?: string };
}

export const ANNOTATION = 'mlserve.io';

/** Prefixes KServe's storage initializer fetches (kserve utils.go). */
const KSERVE_STORAGE = /^(gs|s3|pvc|https?|hdfs|webhdfs|oci|oci\+native|oci\+fetch|hf):\/\//i;

/** A Kubernetes DNS-1035 label: lowercase letters, digits and '-', starting with a letter, <= 63. */
export function kserveName(endpoint: string): string {
  let s = endpoint.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-+/, '');
  if (!/^[a-z]/.test(s)) s = `m-${s}`;
  s = s.slice(0, 63).replace(/-+$/, '');
  return s || 'model';
}

/** A plain .onnx file (served by Triton's onnx format) rather than an MLflow model directory. */
function isPlainOnnx(d: ExportDeployment): boolean {
  return d.resolved.kind === 'path' && /\.onnx$/i.test(d.resolved.source ?? d.modelUri);
}

function storageFor(d: ExportDeployment, endpoint: string): { uri: string; placeholder: boolean; comment?: string } {
  const src = d.resolved.source;
  if (d.resolved.kind !== 'path' && src && KSERVE_STORAGE.test(src)) return { uri: src, placeholder: false };
  const version = d.resolved.version ?? '1';
  const uri = `s3://REPLACE-ME/mlserve/${kserveName(endpoint)}/v${version}`;
  let what: string;
  if (d.resolved.kind === 'path') {
    what = isPlainOnnx(d)
      ? ` upload the Triton model repository ${kserveName(endpoint)}/ (${endpoint}/config.pbtxt and ${endpoint}/1/model.onnx from ${src ?? d.modelUri}; mlserve export kserve --out DIR writes it beside this file) to storageUri`
      : ` upload the MLflow model directory ${src ?? d.modelUri} (MLmodel and its files) to storageUri`;
  } else {
    const from = src ? ` (its artifacts are at ${src}, which KServe cannot fetch)` : '';
    what = ` KServe cannot read ${d.modelUri}${from}: run \`mlflow artifacts download -u ${d.modelUri} -d ./model\`, upload ./model to object storage, and put its URI here`;
  }
  return { uri, placeholder: true, comment: ` TODO:${what}` };
}

type Group = { endpoint: string; primary: ExportDeployment; canary?: ExportDeployment; weight: number };

/** The deployments of an endpoint: its primary and, when the endpoint has one, its canary and the canary's weight. */
function endpointGroups(status: ExportStatus): Group[] {
  const names = [...new Set([...(status.endpoints ?? []).map((e) => e.name), ...status.deployments.map((d) => d.endpoint)])];
  const out: Group[] = [];
  for (const endpoint of names) {
    const deps = status.deployments.filter((d) => d.endpoint === endpoint);
    if (deps.length === 0) continue;
    const e = status.endpoints?.find((x) => x.name === endpoint);
    const canary = e?.canary ? deps.find((d) => d.name === e.canary) : undefined;
    const primary = deps.find((d) => d.name === e?.primary && d !== canary) ?? deps.find((d) => d !== canary) ?? deps[0];
    out.push({ endpoint, primary, canary: canary && canary !== primary ? canary : undefined, weight: e?.canaryWeight ?? 0 });
  }
  return out;
}

/** One InferenceService per endpoint of the status answer. */
export function kserveManifests(status: ExportStatus, opts: { namespace?: string } = {}): ExportedService[] {
  return endpointGroups(status).map(({ endpoint, primary, canary, weight }) => {
    // With a canary, the manifest describes the candidate revision; KServe keeps the primary.
    const d = canary ?? primary;
    const s = d.settings;
    const comments: Record<string, string> = {};
    const annotations: Record<string, string> = {
      [`${ANNOTATION}/endpoint`]: endpoint,
      [`${ANNOTATION}/deployment`]: d.name,
      [`${ANNOTATION}/model-uri`]: d.modelUri,
    };
    if (d.resolved.version) annotations[`${ANNOTATION}/model-version`] = String(d.resolved.version);
    annotations[`${ANNOTATION}/runtime`] = d.settings.runtime ?? 'onnx';
    if (d.resolved.source) annotations[`${ANNOTATION}/model-source`] = d.resolved.source;
    if (d.resolved.registry) annotations[`${ANNOTATION}/registry`] = d.resolved.registry;

    const storage = storageFor(d, endpoint);
    if (storage.comment) comments['spec.predictor.model.storageUri'] = storage.comment;
    if (storage.placeholder) annotations[`${ANNOTATION}/storage-uri-placeholder`] = 'true';

    const a = s.autoscaling;
    const predictor: Predictor = {
      minReplicas: a ? a.min_replicas : s.replicas,
      maxReplicas: a ? a.max_replicas : s.replicas,
      model: {
        modelFormat: { name: isPlainOnnx(d) ? 'onnx' : 'mlflow' },
        protocolVersion: 'v2',
        storageUri: storage.uri,
      },
    };
    if (d.settings.runtime === 'python') {
      comments['spec.predictor.model.modelFormat'] = ' a pyfunc model: KServe serves the mlflow format with MLServer\'s MLflow runtime (mlflow.pyfunc.load_model), as mlserve\'s Python replicas do';
    }
    if (a) {
      predictor.scaleMetric = 'concurrency';
      if (a.target_ongoing_requests !== undefined) predictor.scaleTarget = Math.max(1, Math.ceil(a.target_ongoing_requests));
      comments['spec.predictor.minReplicas'] = ` from autoscaling_config (${a.min_replicas}..${a.max_replicas}, target ${a.target_ongoing_requests ?? '-'} ongoing requests per replica)${a.min_replicas === 0 ? '; 0 needs KServe Serverless mode' : ''}`;
    } else {
      comments['spec.predictor.minReplicas'] = ` a fixed count of ${s.replicas} replica(s)`;
    }
    if (s.maxOngoingRequests) predictor.containerConcurrency = s.maxOngoingRequests;
    if (s.requestTimeoutMs) predictor.timeout = Math.ceil(s.requestTimeoutMs / 1000);
    if (s.gpus && s.gpus > 0) {
      const whole = Math.ceil(s.gpus);
      predictor.model.resources = { limits: { 'nvidia.com/gpu': whole } };
      annotations[`${ANNOTATION}/gpus-per-replica`] = String(s.gpus);
      if (whole !== s.gpus) {
        comments['spec.predictor.model.resources.limits.nvidia.com/gpu'] =
          ` mlserve gave each replica ${s.gpus} of a GPU; KServe schedules whole GPUs only (use MIG or time-slicing to share)`;
      }
    }
    if (canary) {
      // KServe takes a whole percent: a weight below 1% (but above 0) becomes 1 rather than dropping the canary.
      predictor.canaryTrafficPercent = weight > 0 ? Math.max(1, Math.min(100, Math.round(weight))) : 0;
      annotations[`${ANNOTATION}/primary-deployment`] = primary.name;
      annotations[`${ANNOTATION}/primary-model-uri`] = primary.modelUri;
      const ps = storageFor(primary, endpoint);
      annotations[`${ANNOTATION}/primary-storage-uri`] = ps.uri;
      comments['spec.predictor.canaryTrafficPercent'] =
        ` the canary ${canary.name} gets this percent (mlserve: ${weight}%); apply the primary ${primary.name} (storageUri ${ps.uri}) first. Remove to promote, 0 to roll back (Serverless mode only)`;
    }

    const metadata: InferenceService['metadata'] = { name: kserveName(endpoint), annotations };
    if (opts.namespace) metadata.namespace = opts.namespace;
    comments[''] = ` mlserve endpoint ${endpoint}: ${d.modelUri}${d.resolved.version ? ` (version ${d.resolved.version})` : ''}`;
    const triton = isPlainOnnx(d)
      ? {
        folder: kserveName(endpoint),
        model: endpoint,
        modelFile: d.modelFile,
        config: tritonConfig({
          name: endpoint, signature: d.spec ?? d.signature ?? null, maxBatchSize: s.maxBatchSize, batchWaitMs: s.batchWaitMs,
          maxConcurrentBatches: s.maxConcurrentBatches, gpu: !!s.gpus,
        }),
      }
      : undefined;
    return {
      endpoint,
      manifest: { apiVersion: 'serving.kserve.io/v1beta1', kind: 'InferenceService', metadata, spec: { predictor } },
      comments,
      needsUpload: storage.placeholder,
      ...(triton ? { triton } : {}),
    };
  });
}

/** Split a comment path on dots, keeping the resource name `nvidia.com/gpu` whole. */
function commentPath(path: string): string[] {
  const gpu = 'nvidia.com/gpu';
  const at = path.indexOf(gpu);
  const head = (at >= 0 ? path.slice(0, at) : path).split('.').filter(Boolean);
  return at >= 0 ? [...head, gpu] : head;
}

/** One service as a YAML document with its comments. */
export function serviceYaml(svc: ExportedService): string {
  const doc = new Document(svc.manifest);
  for (const [path, text] of Object.entries(svc.comments)) {
    if (path === '') {
      doc.commentBefore = text;
      continue;
    }
    const keys = commentPath(path);
    const parent = doc.getIn(keys.slice(0, -1), true);
    if (!isMap(parent)) continue;
    const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === keys[keys.length - 1]);
    if (pair && isScalar(pair.key)) pair.key.commentBefore = text;
  }
  return doc.toString({ lineWidth: 0 });
}

/** Every service as one multi-document YAML stream. */
export function servicesYaml(services: ExportedService[]): string {
  return services.map((s) => `---\n${serviceYaml(s)}`).join('');
}
