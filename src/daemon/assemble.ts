// The daemon's parts, built and wired through narrow interfaces: no part holds another's owner.
// The fleet and the metrics, the canary commands and their stats, the commands and registry
// tracking meet only here, through callbacks.
import { join } from 'node:path';
import { applyConfig, type ApplyRequest } from './control/apply.js';
import { Commands, type PythonEnvFor } from './control/commands.js';
import type { createModelSourceResolver } from './control/model-source.js';
import { Reconciler } from './control/reconciler.js';
import type { Store } from './control/store.js';
import { RouteTable } from './dataplane/routes.js';
import { ShadowMirror } from './dataplane/shadow.js';
import { Fleet } from './fleet/fleet.js';
import type { Inventory } from './fleet/gpu-inventory.js';
import { defaultPython } from './fleet/kinds/python.js';
import { preparePythonEnv } from './fleet/python-env.js';
import { GpuBook } from './fleet/placement.js';
import { Metrics } from './metrics.js';
import { AnalysisLoop } from './rollout/analysis-loop.js';
import { CanaryCommands } from './rollout/canary-commands.js';
import { CanaryStats } from './rollout/canary-stats.js';
import { TrackingLoop } from './rollout/tracking.js';
import { SecretFiles } from './control/secrets.js';
import { Capture, onWorker } from './capture/capture.js';
import { CaptureCommands } from './capture/commands.js';
import type { CaptureSettings } from './capture/settings.js';
import { DriftScheduler, type DriftSchedule } from './monitor/drift-schedule.js';
import { DriftCommands } from './monitor/drift-commands.js';
import { envRotation, rotateIfFull } from './logging/log-file.js';

/**
 * The Python a pyfunc model's replicas run, as `mlflow models serve --env-manager` decides it:
 * local (checked for what the model needs), or a virtualenv/uv environment built from the model's
 * requirements under $MLSERVE_HOME/envs and reused offline. pip's output goes to logs/envs.log;
 * what was built or went wrong is an event.
 */
export function pythonEnvs(dirs: { envsDir: string; logDir: string }, event: (kind: string, subject: string, message: string, data?: unknown) => void): PythonEnvFor {
  return async (modelDir, req, onProgress) => {
    const subject = req.subject ?? 'daemon';
    try {
      rotateIfFull(join(dirs.logDir, 'envs.log'), envRotation()); // appended to by path: a rename is safe
    } catch {
      /* a full disk: the build says so */
    }
    try {
      const env = await preparePythonEnv({
        modelDir, manager: req.envManager, python: req.python ?? defaultPython({ ...process.env, ...req.env }),
        envsDir: dirs.envsDir, logFile: join(dirs.logDir, 'envs.log'), onProgress, env: process.env,
      });
      if (env.built) event('env-built', subject, `built a ${env.manager} environment for the model's requirements (${env.requirements.length} of them) in ${env.dir}`, { dir: env.dir });
      for (const w of env.warnings) event('env-warning', subject, w);
      return { python: env.python, manager: env.manager, reason: env.reason };
    } catch (err) {
      event('env-failed', subject, (err as Error).message);
      throw err;
    }
  };
}

/** Build the daemon's parts and wire them through their narrow interfaces (no part holds another's owner). */
export function assemble(
  store: Store, inventory: Inventory, dirs: { home: string; logDir: string; workDir: string; secretsDir: string; envsDir: string; captureDir: string; cores?: number },
  resolver: ReturnType<typeof createModelSourceResolver>,
  pythonEnv: PythonEnvFor = pythonEnvs(dirs, (k, subj, msg, data) => store.addEvent(k, subj, msg, data)),
) {
  const gpus = new GpuBook(inventory);
  const routes = new RouteTable();
  const shadow = new ShadowMirror();
  // The fleet and the metrics read each other only through callbacks set up here.
  let fleet: Fleet | undefined;
  const runtimes = () => [...(fleet?.runtimes() ?? [])];
  const metrics = new Metrics({
    runtimes: () => runtimes().map((rt) => {
      const snap = rt.dispatcher.snapshot() as ReturnType<typeof rt.dispatcher.snapshot> & { llm?: { kv: { used: number; size: number } | null } };
      return { name: rt.name, endpoint: rt.endpoint, queued: snap.queued, inflight: snap.inflight, replicaStates: rt.set.members.map((r) => r.state), ...(snap.llm ? { llm: { kv: snap.llm.kv } } : {}) };
    }),
    restarts: () => {
      const by = new Map<string, number>();
      for (const r of store.listReplicas()) by.set(r.deployment, (by.get(r.deployment) ?? 0) + r.restarts);
      return by;
    },
    daemonStarts: () => store.daemonStarts(),
    canaryWeights: () => new Map(store.listEndpoints().map((e) => [e.name, e.canary ? e.canaryWeight : 0])),
    gpus: () => gpus.shares().flatMap((s) => {
      const g = inventory.gpus.find((x) => x.uuid === s.uuid);
      return g ? [{ ...g, allocated: s.allocated }] : [];
    }),
  });
  let reconciler: Reconciler | undefined;
  const kick = () => reconciler?.kick() ?? Promise.resolve();
  fleet = new Fleet({ store, gpus, logDir: dirs.logDir, workDir: dirs.workDir, metrics, onRelease: () => fleet?.placePending(), onChange: () => void kick() });
  reconciler = new Reconciler(store, fleet, routes, dirs.cores ?? 1);
  const f = fleet;
  const canaryStats = new CanaryStats({
    latency: () => metrics.latencyByDeployment(),
    ttft: () => metrics.ttftByDeployment(),
    deployment: (name) => {
      const rt = f.active(name);
      return rt ? { stats: rt.dispatcher.snapshot(), version: rt.version, ready: rt.readyReplicas() } : undefined;
    },
    shadow: (endpoint) => shadow.get(endpoint),
    endpoints: () => store.listEndpoints(),
  });
  const whenStopped = (name: string) => f.whenStopped(name);
  const canary = new CanaryCommands({ store, kick, whenStopped, counters: (d) => canaryStats.counters(d), resetShadow: (e) => shadow.reset(e) });
  let tracking: TrackingLoop | undefined;
  const commands = new Commands({
    store, resolver, inventory, kick, whenStopped, pythonEnv,
    onCanaryStarted: (endpoint, primary) => canaryStats.captureBaseline(endpoint, primary),
    onTrack: (endpoint, env) => tracking?.remember(endpoint, env),
  });
  tracking = new TrackingLoop({ store, secrets: new SecretFiles(dirs.secretsDir), deploy: (req) => commands.deploy(req), startRollout: (policy, endpoint) => canary.startRollout(policy, endpoint) });
  const capture = new Capture({
    writer: onWorker(dirs.captureDir), registry: metrics.registry, event: (k, subj, msg, data) => store.addEvent(k, subj, msg, data),
    load: () => store.listCapture().map((c) => ({ endpoint: c.endpoint, settings: c.settings as CaptureSettings })),
  });
  const captureCommands = new CaptureCommands({ store, capture, dir: dirs.captureDir });
  const driftScheduler = new DriftScheduler({ home: dirs.home, registry: metrics.registry, load: () => store.listDriftSchedules() as DriftSchedule[], event: (k, subj, msg, data) => store.addEvent(k, subj, msg, data) });
  const drift = new DriftCommands({ store, scheduler: driftScheduler });
  const analysis = new AnalysisLoop(store, canary, (d) => canaryStats.counters(d), (primary, canaryName, since) => capture.drift(primary, canaryName, since));
  const snapshotSource = {
    deployments: () => store.listDeployments(),
    endpoints: () => store.listEndpoints(),
    events: (limit: number) => store.listEvents({ limit }),
    latency: () => metrics.latencyByDeployment(),
    ttft: () => metrics.ttftByDeployment(),
    revisions: (name: string) => [f.active(name), f.next(name)].filter((r) => r !== null).map((rt) => ({
      stats: rt.dispatcher.snapshot(),
      replicas: rt.set.members.map((r) => ({ idx: r.idx, pid: r.pid, state: r.state, restarts: r.restarts, inflight: r.link?.load.requests ?? 0, gpu: r.gpu })),
    })),
    gpus: () => gpus.shares().map((s) => {
      const g = inventory.gpus.find((x) => x.uuid === s.uuid)!;
      return { index: g.index, name: g.name, allocated: s.allocated, memoryUsedMiB: g.memoryUsedMiB, memoryTotalMiB: g.memoryTotalMiB, simulated: inventory.simulated };
    }),
  };
  const apply = (req: ApplyRequest, onProgress: (p: unknown) => void) => applyConfig(req, { store, resolver, inventory, kick, onProgress, pythonEnv });
  return { gpus, routes, shadow, metrics, fleet, reconciler, commands, canary, canaryStats, analysis, tracking, snapshotSource, apply, capture, captureCommands, driftScheduler, drift };
}
