// Turn what an operator passes to `deploy` into a model the daemon can run: resolve it (local
// path, or a models:/ / runs:/ URI in a local MLflow file store), read its MLmodel, and copy the
// whole model directory (ONNX weights may sit in external-data files beside model.onnx) into the
// cache under MLSERVE_HOME, so a restart never depends on the original files.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { MlserveError } from '../errors.js';
import type { HomePaths } from '../home.js';
import { resolveInFileStore, resolveLoggedModel, resolveRunArtifacts } from '../mlflow/file-store.js';
import { readMlflowModel, type MlflowModel } from '../mlflow/mlmodel.js';
import { defaultEndpointName, parseModelSource, parseTrackingUri, type ModelSource } from '../mlflow/uri.js';
import type { Signature } from '../tensor.js';
import type { ResolvedModel } from './store.js';

export interface ResolvedSource {
  resolved: ResolvedModel;
  /** The cached copy of the model directory. */
  modelDir: string;
  /** The ONNX file inside modelDir. */
  modelFile: string;
  signature: Signature | null;
  defaultEndpoint: string;
}

export interface ResolveContext {
  /** The CLI user's MLflow variables (MLFLOW_TRACKING_URI, MLFLOW_REGISTRY_URI). */
  env: Record<string, string>;
  cwd: string;
}

export interface ModelSourceResolver {
  resolve(source: string, ctx: ResolveContext): Promise<ResolvedSource>;
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);

/** Copy `src` (file or directory) into the cache at `key`, atomically: temp dir, then rename. */
export function cacheCopy(cacheRoot: string, key: string, src: string): string {
  const dest = join(cacheRoot, key);
  if (existsSync(dest)) return dest;
  mkdirSync(dirname(dest), { recursive: true, mode: 0o700 });
  const tmp = join(cacheRoot, `.tmp-${randomBytes(6).toString('hex')}`);
  try {
    if (statSync(src).isDirectory()) cpSync(src, tmp, { recursive: true, dereference: true });
    else {
      mkdirSync(tmp, { mode: 0o700 });
      cpSync(src, join(tmp, basename(src)), { dereference: true });
    }
    makeOwnerWritable(tmp);
    renameSync(tmp, dest);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    if (existsSync(dest)) return dest; // another deploy cached it first
    throw new MlserveError('MODEL_SOURCE', `cannot copy ${src} into the model cache: ${(err as Error).message}`);
  }
  return dest;
}

/** Registry stores are often read-only; the cache must stay removable. */
function makeOwnerWritable(p: string): void {
  const st = statSync(p);
  chmodSync(p, st.isDirectory() ? 0o700 : 0o600);
  if (st.isDirectory()) for (const e of readdirSync(p)) makeOwnerWritable(join(p, e));
}

function fromMlflowDir(model: MlflowModel, cached: string): { modelFile: string; signature: Signature | null } {
  const sig = model.signature ? { inputs: model.signature.inputs, outputs: model.signature.outputs } : null;
  return { modelFile: join(cached, relative(model.dir, model.onnxFile)), signature: sig };
}

function resolvePath(cacheRoot: string, parsed: Extract<ModelSource, { kind: 'path' }>, ctx: ResolveContext) {
  const abs = resolve(ctx.cwd, parsed.path);
  const st = statSync(abs, { throwIfNoEntry: false });
  if (!st) throw new MlserveError('MODEL_SOURCE', `no such file or directory: ${abs}; pass a .onnx file, an MLflow model directory, or models:/Name/Version`);
  const key = `path/${sha(`${abs}:${st.size}:${st.mtimeMs}`)}-${basename(abs).replace(/[^A-Za-z0-9._-]/g, '_')}`;
  if (st.isFile()) {
    if (basename(abs) === 'MLmodel') return resolvePath(cacheRoot, { kind: 'path', path: dirname(abs) }, ctx);
    const cached = cacheCopy(cacheRoot, key, abs);
    return { modelDir: cached, modelFile: join(cached, basename(abs)), signature: null };
  }
  if (existsSync(join(abs, 'MLmodel'))) {
    const model = readMlflowModel(abs);
    const cached = cacheCopy(cacheRoot, key, abs);
    return { modelDir: cached, ...fromMlflowDir(model, cached) };
  }
  if (existsSync(join(abs, 'model.onnx'))) {
    const cached = cacheCopy(cacheRoot, key, abs);
    return { modelDir: cached, modelFile: join(cached, 'model.onnx'), signature: null };
  }
  throw new MlserveError('MODEL_SOURCE', `${abs} holds neither an MLmodel file nor model.onnx; pass a .onnx file or an MLflow model directory`);
}

export function createModelSourceResolver(paths: HomePaths): ModelSourceResolver {
  return {
    async resolve(source, ctx) {
      const parsed = parseModelSource(source);
      const defaultEndpoint = defaultEndpointName(parsed);
      if (parsed.kind === 'path') {
        const r = resolvePath(paths.cache, parsed, ctx);
        return { resolved: { kind: 'path', version: '1', source: resolve(ctx.cwd, parsed.path) }, defaultEndpoint, ...r };
      }
      const trackingUri = ctx.env.MLFLOW_REGISTRY_URI || ctx.env.MLFLOW_TRACKING_URI;
      const store = parseTrackingUri(trackingUri, ctx.cwd);
      if (store.kind !== 'file') {
        throw new MlserveError(
          'MODEL_SOURCE',
          `tracking server ${store.url} cannot be read yet: this mlserve reads local MLflow file stores; set MLFLOW_TRACKING_URI=file:///path/to/mlruns`,
        );
      }
      let localDir: string;
      let resolved: ResolvedModel;
      if (parsed.kind === 'registry') {
        const mv = resolveInFileStore(store.root, parsed);
        localDir = mv.localDir;
        resolved = { kind: 'registry', name: mv.name, version: mv.version, runId: mv.runId, source: mv.source, stage: mv.stage, registry: store.root };
      } else if (parsed.kind === 'run') {
        localDir = resolveRunArtifacts(store.root, parsed.runId, parsed.path);
        resolved = { kind: 'run', version: parsed.runId.slice(0, 8), runId: parsed.runId, source, registry: store.root };
      } else {
        localDir = resolveLoggedModel(store.root, parsed.modelId);
        resolved = { kind: 'logged-model', name: parsed.modelId, version: '1', source, registry: store.root };
      }
      const model = readMlflowModel(localDir);
      const key = `file/${sha(store.root)}/${(resolved.name ?? resolved.runId ?? 'run').replace(/[^A-Za-z0-9._-]/g, '_')}/${resolved.version}-${sha(localDir)}`;
      const cached = cacheCopy(paths.cache, key, localDir);
      return { resolved, defaultEndpoint, modelDir: cached, ...fromMlflowDir(model, cached) };
    },
  };
}
