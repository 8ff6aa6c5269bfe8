// Turn what an operator passes to `deploy` into a model the daemon can run: resolve it (a local
// path; models:/ and runs:/ URIs in a local MLflow file store or on a tracking server), fetch the
// whole model directory into the cache under MLSERVE_HOME (ONNX weights may sit in external-data
// files beside model.onnx), and read its MLmodel. Restarts then need neither network nor originals.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { MlserveError } from '../../errors.js';
import type { HomePaths } from '../../home.js';
import { fetchArtifacts, hasArtifacts, type FetchProgress } from '../../mlflow/artifacts.js';
import { cached, cacheKey, readMeta, safeJoin } from '../../mlflow/cache.js';
import { externalDataFiles } from '../../mlflow/onnx-files.js';
import { MlflowRestClient } from '../../mlflow/client.js';
import { resolveInFileStore, resolveLoggedModel, resolveRunArtifacts } from '../../mlflow/file-store.js';
import { readMlflowModel, type ModelRuntime } from '../../mlflow/mlmodel.js';
import { splitSecrets } from '../../mlflow/credentials.js';
import { restConfig } from '../../mlflow/rest-config.js';
import { resolveLoggedModel as restLoggedModel, resolveRegistry, resolveRun, type RestResolved } from '../../mlflow/rest-registry.js';
import { defaultEndpointName, parseModelSource, parseTrackingUri, type ModelSource } from '../../mlflow/uri.js';
import type { Signature } from '../../tensor.js';
import type { ResolvedModel } from './store.js';
import { describeLlmModel, looksLikeLlmFolder } from './llm-source.js';

export interface ResolvedSource {
  resolved: ResolvedModel;
  /** The cached copy of the model directory. */
  modelDir: string;
  /** What the replica loads: the ONNX file inside modelDir (onnx), or modelDir itself (python). */
  modelFile: string;
  /** The replica kind that serves it (onnx when it has the onnx flavor, else python for pyfunc models). */
  runtime: ModelRuntime;
  /** MLflow flavors of the model (empty for a bare .onnx file). */
  flavors: string[];
  signature: Signature | null;
  defaultEndpoint: string;
  /** Whether the files came from the cache (no download). */
  cacheHit: boolean;
}

export interface ResolveContext {
  /** The CLI user's MLflow variables (MLFLOW_TRACKING_URI, auth, TLS, retries). */
  env: Record<string, string>;
  cwd: string;
  onProgress?: (p: FetchProgress) => void;
  /** --runtime: force a replica kind (else chosen from the flavors). */
  runtime?: ModelRuntime;
}

export interface ModelSourceResolver {
  resolve(source: string, ctx: ResolveContext): Promise<ResolvedSource>;
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 12);

/** What serves a cached MLflow model dir (or a dir/file holding model.onnx): runtime, file, signature. */
function describeModel(dir: string, runtime?: ModelRuntime): { modelFile: string; signature: Signature | null; runtime: ModelRuntime; flavors: string[] } {
  const llm = describeLlmModel(dir, runtime);
  if (llm) return { ...llm, signature: null };
  if (existsSync(join(dir, 'MLmodel'))) {
    const m = readMlflowModel(dir, runtime);
    const signature = m.signature ? { inputs: m.signature.inputs, outputs: m.signature.outputs } : null;
    if (m.runtime === 'python') return { modelFile: dir, signature, runtime: 'python', flavors: m.flavors };
    return { modelFile: join(dir, relative(m.dir, m.onnxFile!)), signature, runtime: 'onnx', flavors: m.flavors };
  }
  if (runtime === 'python') throw new MlserveError('UNSUPPORTED_MODEL', `${dir} is not an MLflow model directory (no MLmodel), so --runtime python cannot load it`);
  const onnx = readdirSync(dir).filter((f) => f.endsWith('.onnx'));
  if (onnx.length === 1) return { modelFile: join(dir, onnx[0]), signature: null, runtime: 'onnx', flavors: [] };
  throw new MlserveError('MODEL_SOURCE', `${dir} holds neither an MLmodel file nor a single .onnx file; pass a .onnx file or an MLflow model directory`);
}

async function resolvePath(cacheRoot: string, parsed: Extract<ModelSource, { kind: 'path' }>, ctx: ResolveContext) {
  let abs = resolve(ctx.cwd, parsed.path);
  const st = statSync(abs, { throwIfNoEntry: false });
  if (!st) throw new MlserveError('MODEL_SOURCE', `no such file or directory: ${abs}; pass a .onnx file, an MLflow model directory, or models:/Name/Version`);
  if (st.isFile() && basename(abs) === 'MLmodel') abs = dirname(abs);
  if (statSync(abs).isDirectory()) {
    if (existsSync(join(abs, 'MLmodel'))) readMlflowModel(abs, ctx.runtime); // refuse models no runtime serves before copying
    else if (!existsSync(join(abs, 'model.onnx')) && !looksLikeLlmFolder(abs)) {
      throw new MlserveError('MODEL_SOURCE', `${abs} holds neither an MLmodel file nor model.onnx; pass a .onnx file or an MLflow model directory`);
    }
  }
  const key = cacheKey('path', `${sha(`${abs}:${st.size}:${st.mtimeMs}`)}-${basename(abs)}`);
  const { dir, hit } = await cached(cacheRoot, key, { source: abs }, async (tmp) => {
    const files = await fetchArtifacts(abs, tmp, ctx);
    // A bare .onnx file may keep its weights in external-data files beside it: bring those too.
    if (statSync(abs).isFile()) {
      for (const rel of externalDataFiles(abs)) {
        const src = join(dirname(abs), rel);
        if (!existsSync(src)) throw new MlserveError('MODEL_SOURCE', `${abs} keeps weights in ${rel}, but ${src} does not exist`);
        const out = safeJoin(tmp, rel);
        mkdirSync(dirname(out), { recursive: true, mode: 0o700 });
        copyFileSync(src, out);
        files.push({ path: rel, size: statSync(src).size });
      }
    }
    return files;
  });
  return { dir, hit };
}

/** A cache entry for this registry, model and version, whatever its source (no network needed). */
function findPinned(cacheRoot: string, prefix: string): string | undefined {
  const dir = join(cacheRoot, ...prefix.split('/'));
  if (!existsSync(dir)) return undefined;
  for (const e of readdirSync(dir)) if (readMeta(join(dir, e))) return join(dir, e);
  return undefined;
}

async function resolveRest(paths: HomePaths, url: string, parsed: Exclude<ModelSource, { kind: 'path' }>, ctx: ResolveContext) {
  const host = new URL(url).host;
  const registry = url;
  if (parsed.kind === 'registry' && parsed.version !== undefined && !parsed.subPath) {
    const hit = findPinned(paths.cache, cacheKey('rest', host, parsed.name, `v${parsed.version}`));
    if (hit) {
      const meta = readMeta(hit)!;
      const resolved: ResolvedModel = { kind: 'registry', name: parsed.name, version: parsed.version, runId: meta.runId, source: meta.source, registry };
      return { resolved, dir: hit, hit: true };
    }
  }
  const client = new MlflowRestClient(restConfig(url, ctx.env));
  try {
    let r: RestResolved;
    if (parsed.kind === 'registry') r = await resolveRegistry(client, parsed);
    else if (parsed.kind === 'run') r = await resolveRun(client, parsed, (uri, runId) => hasArtifacts(uri, { client, runId }));
    else r = await restLoggedModel(client, parsed);
    const name = r.name ?? r.runId ?? 'run';
    const key = cacheKey('rest', host, name, `v${r.version}`, sha(r.artifactUri));
    const { dir, hit } = await cached(paths.cache, key, { source: r.source, registry, name, version: r.version, runId: r.runId }, async (tmp) => {
      const files = await fetchArtifacts(r.artifactUri, tmp, { client, runId: r.runId, onProgress: ctx.onProgress });
      if (existsSync(join(tmp, 'MLmodel'))) readMlflowModel(tmp, ctx.runtime); // a model no runtime serves never enters the cache
      return files;
    });
    const resolved: ResolvedModel = { kind: parsed.kind, name: r.name, version: r.version, runId: r.runId, source: r.source, stage: r.stage, registry };
    return { resolved, dir, hit };
  } finally {
    await client.close();
  }
}

async function resolveFileStore(paths: HomePaths, root: string, parsed: Exclude<ModelSource, { kind: 'path' }>, ctx: ResolveContext) {
  let localDir: string;
  let resolved: ResolvedModel;
  if (parsed.kind === 'registry') {
    const mv = resolveInFileStore(root, parsed);
    localDir = mv.localDir;
    resolved = { kind: 'registry', name: mv.name, version: mv.version, runId: mv.runId, source: mv.source, stage: mv.stage, registry: root };
  } else if (parsed.kind === 'run') {
    localDir = resolveRunArtifacts(root, parsed.runId, parsed.path);
    resolved = { kind: 'run', version: parsed.runId.slice(0, 8), runId: parsed.runId, source: `runs:/${parsed.runId}/${parsed.path}`, registry: root };
  } else {
    localDir = resolveLoggedModel(root, parsed.modelId);
    resolved = { kind: 'logged-model', name: parsed.modelId, version: '1', source: `models:/${parsed.modelId}`, registry: root };
  }
  readMlflowModel(localDir, ctx.runtime); // refuse models no runtime serves before copying
  const key = cacheKey('file', sha(root), resolved.name ?? resolved.runId ?? 'run', `v${resolved.version}`, sha(localDir));
  const { dir, hit } = await cached(paths.cache, key, { source: resolved.source ?? localDir, registry: root, name: resolved.name, version: resolved.version, runId: resolved.runId }, (tmp) =>
    fetchArtifacts(localDir, tmp, ctx),
  );
  return { resolved, dir, hit };
}

export function createModelSourceResolver(paths: HomePaths): ModelSourceResolver {
  return {
    async resolve(source, given) {
      // Credentials inside a tracking URI become Basic auth variables; the URI is used (and stored) without them.
      const split = splitSecrets(given.env);
      const ctx = { ...given, env: { ...split.public, ...split.secret } };
      const parsed = parseModelSource(source);
      const defaultEndpoint = defaultEndpointName(parsed);
      let out: { resolved: ResolvedModel; dir: string; hit: boolean };
      if (parsed.kind === 'path') {
        const { dir, hit } = await resolvePath(paths.cache, parsed, ctx);
        out = { resolved: { kind: 'path', version: '1', source: resolve(ctx.cwd, parsed.path) }, dir, hit };
      } else {
        const store = parseTrackingUri(ctx.env.MLFLOW_REGISTRY_URI || ctx.env.MLFLOW_TRACKING_URI, ctx.cwd);
        out = store.kind === 'rest' ? await resolveRest(paths, store.url, parsed, ctx) : await resolveFileStore(paths, store.root, parsed, ctx);
      }
      return { resolved: out.resolved, modelDir: out.dir, cacheHit: out.hit, defaultEndpoint, ...describeModel(out.dir, ctx.runtime) };
    },
  };
}
