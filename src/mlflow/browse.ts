// What `mlserve models` shows: registered models with their versions, stages, aliases and, for
// one model, each version's source, run and signature. Reads a file store or a tracking server.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Signature } from '../tensor.js';
import { MlflowRestClient } from './client.js';
import { resolveArtifactUri, listRegisteredModels } from './file-store.js';
import { parseMlmodel } from './mlmodel.js';
import { restConfig } from './rest-config.js';
import { listModels } from './rest-registry.js';
import { proxiedArtifactBase } from './artifacts.js';
import { parseTrackingUri, uriScheme } from './uri.js';

export interface VersionView {
  version: string;
  stage: string;
  aliases: string[];
  runId?: string;
  source?: string;
  description?: string;
  signature?: Signature | null;
  flavors?: string[];
}

export interface ModelView {
  name: string;
  description?: string;
  versions: VersionView[];
}

export interface Browse {
  registry: string;
  models: ModelView[];
}

function mlmodelSummary(text: string): { signature: Signature | null; flavors: string[] } {
  try {
    const m = parseMlmodel(text, '/');
    return { signature: m.signature ? { inputs: m.signature.inputs, outputs: m.signature.outputs } : null, flavors: m.flavors };
  } catch {
    // Not servable (e.g. no onnx flavor): still show which flavors it has.
    try {
      const doc = parseYaml(text) as { flavors?: Record<string, unknown> } | null;
      return { signature: null, flavors: Object.keys(doc?.flavors ?? {}) };
    } catch {
      return { signature: null, flavors: [] };
    }
  }
}

async function restMlmodel(client: MlflowRestClient, name: string, version: string): Promise<string | undefined> {
  try {
    const { artifact_uri } = await client.json<{ artifact_uri: string }>('GET', '/api/2.0/mlflow/model-versions/get-download-uri', { name, version });
    const scheme = uriScheme(artifact_uri);
    if (scheme === 'mlflow-artifacts' || scheme === 'http' || scheme === 'https') {
      const { base, root } = proxiedArtifactBase(artifact_uri, client.cfg.url);
      const res = await client.send('GET', `${base}/${`${root}/MLmodel`.split('/').map(encodeURIComponent).join('/')}`);
      const text = await res.body.text();
      return res.statusCode === 200 ? text : undefined;
    }
    const res = await client.send('GET', client.url('/model-versions/get-artifact', { name, version, path: 'MLmodel' }));
    const text = await res.body.text();
    return res.statusCode === 200 ? text : undefined;
  } catch {
    return undefined;
  }
}

/** Browse the registry named by the environment; `detail` reads each version's MLmodel for `only`. */
export async function browseRegistry(env: Record<string, string | undefined>, cwd: string, only?: string): Promise<Browse> {
  const store = parseTrackingUri(env.MLFLOW_REGISTRY_URI || env.MLFLOW_TRACKING_URI, cwd);
  if (store.kind === 'file') {
    const models = listRegisteredModels(store.root)
      .filter((m) => !only || m.name === only)
      .map((m) => ({
        name: m.name,
        description: m.description,
        versions: m.versions.map((v) => {
          const view: VersionView = { version: v.version, stage: v.stage, aliases: v.aliases, runId: v.runId, source: v.source, description: v.description };
          if (only) {
            try {
              const dir = resolveArtifactUri(store.root, v.storageLocation ?? v.source);
              if (existsSync(join(dir, 'MLmodel'))) Object.assign(view, mlmodelSummary(readFileSync(join(dir, 'MLmodel'), 'utf8')));
            } catch { /* source unreadable: show what the registry says */ }
          }
          return view;
        }),
      }));
    return { registry: store.root, models };
  }
  const client = new MlflowRestClient(restConfig(store.url, env));
  try {
    const all = await listModels(client);
    const models: ModelView[] = [];
    for (const { model, versions } of all) {
      if (only && model.name !== only) continue;
      const views: VersionView[] = [];
      for (const v of versions) {
        const view: VersionView = {
          version: String(v.version), stage: v.current_stage ?? 'None', aliases: v.aliases ?? [], runId: v.run_id, source: v.source, description: v.description,
        };
        if (only) {
          const text = await restMlmodel(client, model.name, String(v.version));
          if (text) Object.assign(view, mlmodelSummary(text));
        }
        views.push(view);
      }
      models.push({ name: model.name, description: model.description, versions: views });
    }
    return { registry: store.url, models };
  } finally {
    await client.close();
  }
}
