// Triton's model repository extension, read-only: POST /v2/repository/index lists what is served
// (name, version, state, reason) so operators can discover models (OIP v2 has no GET /v2/models).
// Loading and unloading stay with `mlserve deploy` / `mlserve undeploy`.
import { MlserveError, notFound } from '../../errors.js';
import type { RouteTable, ServingTarget } from './routes.js';

export interface RepositoryEntry {
  name: string;
  version: string;
  state: 'READY' | 'LOADING' | 'UNAVAILABLE';
  reason: string;
}

function entry(endpoint: string, rt: ServingTarget, role: 'primary' | 'canary'): RepositoryEntry {
  const phase = rt.phase?.();
  if (rt.readyReplicas() > 0 || (rt.mayScaleToZero && phase !== 'failed')) return { name: endpoint, version: rt.version, state: 'READY', reason: '' };
  const who = `deployment ${rt.name}${role === 'canary' ? ' (canary)' : ''}`;
  if (phase === 'failed') return { name: endpoint, version: rt.version, state: 'UNAVAILABLE', reason: `${who} failed: ${rt.failed ?? 'see mlserve events'}` };
  if (phase === 'pending') return { name: endpoint, version: rt.version, state: 'UNAVAILABLE', reason: `${who} waits for GPU room (see mlserve status)` };
  return { name: endpoint, version: rt.version, state: 'LOADING', reason: `${who} has no ready replica yet` };
}

/** The index: every endpoint's primary and canary (another version of the same model name). */
export function repositoryIndex(routes: RouteTable, opts: { ready?: boolean } = {}): RepositoryEntry[] {
  const out: RepositoryEntry[] = [];
  for (const r of routes.list().sort((a, b) => a.endpoint.localeCompare(b.endpoint))) {
    if (r.primary) out.push(entry(r.endpoint, r.primary, 'primary'));
    else out.push({ name: r.endpoint, version: '', state: 'UNAVAILABLE', reason: 'its deployment is not running (starting, or restarting after a failure; see mlserve status)' });
    if (r.canary && r.canary !== r.primary) out.push(entry(r.endpoint, r.canary, 'canary'));
  }
  return opts.ready ? out.filter((e) => e.state === 'READY') : out;
}

/**
 * /v2/repository/... and GET /v2/models: `parts` are the path's segments ('v2', ...). The index
 * takes an optional JSON body {"ready": true} (only ready models), as Triton's does.
 */
export function repositoryRoute(routes: RouteTable, method: string, parts: string[], body: () => Promise<unknown>): Promise<{ status: number; body: unknown }> | null {
  const path = `/${parts.join('/')}`;
  if (parts[1] === 'models' && parts.length === 2) {
    throw notFound(`no route ${method} ${path}: the Open Inference Protocol has no model list; POST /v2/repository/index lists the models served (name, version, state)`);
  }
  if (parts[1] !== 'repository') return null;
  if (parts.length === 3 && parts[2] === 'index') {
    if (method !== 'POST') throw new MlserveError('METHOD_NOT_ALLOWED', `use POST for ${path} (Triton's repository index)`);
    return body().then((b) => ({ status: 200, body: repositoryIndex(routes, { ready: (b as { ready?: unknown } | undefined)?.ready === true }) }));
  }
  if (parts.length === 5 && parts[2] === 'models' && (parts[4] === 'load' || parts[4] === 'unload')) {
    throw new MlserveError('METHOD_NOT_ALLOWED', `the model repository is read-only here: ${parts[4] === 'load' ? 'mlserve deploy <model> --endpoint' : 'mlserve undeploy'} ${parts[3]} does that`);
  }
  throw notFound(`no route ${method} ${path}; the repository extension serves POST /v2/repository/index`);
}
