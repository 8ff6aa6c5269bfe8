// The apply plan: per endpoint create / replace / update / scale / canary / rollout with what
// differs; endpoints missing from the file left alone without --prune; and idempotence: for any
// state the daemon can be in, the file `mlserve config` prints plans nothing (a property test).
import { describe, expect, it } from 'vitest';
import { validateAutoscaling } from '../../../src/daemon/fleet/autoscaler.js';
import { deploySettings } from '../../../src/daemon/control/settings.js';
import { validatePolicy } from '../../../src/daemon/rollout/canary-analysis.js';
import { changesOf, describeChange, plan, type PlanAction } from '../../../src/config/plan.js';
import { parseConfig } from '../../../src/config/schema.js';
import { mulberry32 } from '../../../src/models/zoo.js';
import { renderConfig } from '../../../src/config/render.js';
import { stateToDesired, type CurrentDeployment, type CurrentEndpoint, type CurrentState } from '../../../src/config/desired.js';

const file = (text: string) => {
  const r = parseConfig(text, { baseDir: '/srv' });
  if (r.issues.length) throw new Error(JSON.stringify(r.issues));
  return r.desired;
};
const app = (endpoint: string, ...lines: string[]) =>
  [`  - name: ${endpoint}`, '    deployments:', ...lines.map((l, i) => `${i === 0 ? '      - ' : '        '}${l}`)].join('\n');
const yaml = (...apps: string[]) => `applications:\n${apps.join('\n')}\n`;

/** A deployment as the daemon stores it for a deploy request (the real settings code). */
function dep(name: string, endpoint: string, source: string, req: Record<string, unknown> = {}): CurrentDeployment {
  const path = source.startsWith('/');
  return {
    name, endpoint, modelUri: source, resolved: path ? { kind: 'path', source } : { kind: 'registry' },
    settings: deploySettings(JSON.parse(JSON.stringify({ source, ...req }))),
  };
}
const ep = (name: string, primary: string, more: Partial<CurrentEndpoint> = {}): CurrentEndpoint =>
  ({ name, primary, canary: null, canaryWeight: 0, shadowWeight: 0, rollout: null, nextPrimary: null, ...more });

const rows = (actions: PlanAction[]) => actions.map((a) => [a.action, a.endpoint, a.deployment, describeChange(a)]);

const BASE = yaml(
  app('resnet', 'name: resnet-v7', 'model: models:/ResNet50/Production', 'num_replicas: 2', 'max_batch_size: 16'),
  app('mnist', 'model: ./models/mnist.onnx'),
);
const baseState = (): CurrentState => ({
  endpoints: [ep('mnist', 'mnist-v1'), ep('resnet', 'resnet-v7')],
  deployments: [
    dep('resnet-v7', 'resnet', 'models:/ResNet50/Production', { replicas: 2, maxBatchSize: 16 }),
    dep('mnist-v1', 'mnist', '/srv/models/mnist.onnx'),
  ],
});

describe('plan', () => {
  it('creates every endpoint of a file on an empty daemon', () => {
    const p = plan(file(BASE), { endpoints: [], deployments: [] });
    expect(rows(p.actions)).toEqual([
      ['create', 'resnet', 'resnet-v7', 'new endpoint: model models:/ResNet50/Production, num_replicas 2, max_batch_size 16'],
      ['create', 'mnist', null, 'new endpoint: model /srv/models/mnist.onnx, num_replicas 1'],
    ]);
    expect(p.endpoints.map((e) => [e.endpoint, e.primary.op])).toEqual([['resnet', 'create'], ['mnist', 'create']]);
  });

  const canaryApp = (weight: number, extra: string[] = []) => `${app('resnet', 'name: resnet-v7', 'model: models:/ResNet50/Production', 'num_replicas: 2', 'max_batch_size: 16')}
    canary: {name: resnet-v8, model: models:/ResNet50/8, weight: ${weight}${extra.length ? `, ${extra.join(', ')}` : ''}}`;
  const withCanary = (weight: number, shadow = 0): CurrentState => {
    const s = baseState();
    s.deployments.push(dep('resnet-v8', 'resnet', 'models:/ResNet50/8'));
    s.endpoints[1] = ep('resnet', 'resnet-v7', { canary: 'resnet-v8', canaryWeight: weight, shadowWeight: shadow });
    return s;
  };

  // [what, the new file, the state it is planned against, the plan rows, the primary's op]
  const CHANGES: Array<[string, string, () => CurrentState, unknown[][], string]> = [
    ['nothing', BASE, baseState, [], 'none'],
    ['num_replicas (in place)', BASE.replace('num_replicas: 2', 'num_replicas: 4'), baseState, [['scale', 'resnet', 'resnet-v7', 'num_replicas 2 -> 4']], 'update'],
    ['fixed -> autoscaling', BASE.replace('num_replicas: 2', 'autoscaling_config: {min_replicas: 1, max_replicas: 3}'), baseState,
      [['scale', 'resnet', 'resnet-v7', 'num_replicas 2 -> autoscaling_config (min_replicas 1, max_replicas 3, target_ongoing_requests 2)']], 'update'],
    ['a model, the deployment named in the file (same deployment, new revision)', BASE.replace('models:/ResNet50/Production', 'models:/ResNet50/8'), baseState,
      [['update', 'resnet', 'resnet-v7', 'model models:/ResNet50/Production -> models:/ResNet50/8']], 'update'],
    ['a model, the name left to the daemon (another deployment replaces it)', yaml(app('resnet', 'model: models:/ResNet50/8', 'num_replicas: 2', 'max_batch_size: 16'), app('mnist', 'model: ./models/mnist.onnx')), baseState,
      [['replace', 'resnet', 'resnet-v7', 'model models:/ResNet50/Production -> models:/ResNet50/8']], 'replace'],
    ['a setting (new revision)', BASE.replace('max_batch_size: 16', 'max_batch_size: 8'), baseState, [['update', 'resnet', 'resnet-v7', 'max_batch_size 16 -> 8']], 'update'],
    ['a setting dropped (back to the model default)', BASE.replace('\n        max_batch_size: 16', ''), baseState, [['update', 'resnet', 'resnet-v7', 'max_batch_size 16 -> default']], 'update'],
    ['a setting and the replicas: one update', BASE.replace('max_batch_size: 16', 'threads: 4').replace('num_replicas: 2', 'num_replicas: 1'), baseState,
      [['update', 'resnet', 'resnet-v7', 'threads 1 (default) -> 4; max_batch_size 16 -> default; num_replicas 2 -> 1']], 'update'],
    ['warm-up turned off (new revision)', BASE.replace('num_replicas: 2', 'num_replicas: 2\n        warmup: false'), baseState,
      [['update', 'resnet', 'resnet-v7', 'warmup on -> off']], 'update'],
    ['tracking the registry', BASE.replace('num_replicas: 2', 'num_replicas: 2\n        track_interval_s: 30'), baseState,
      [['update', 'resnet', 'resnet-v7', 'track_interval_s off -> 30s']], 'update'],
    ['a deployment name', BASE.replace('name: resnet-v7', 'name: resnet-next'), baseState, [['replace', 'resnet', 'resnet-v7', 'deployment resnet-v7 -> resnet-next']], 'replace'],
    ['an endpoint missing from the file (left alone)', yaml(app('resnet', 'name: resnet-v7', 'model: models:/ResNet50/Production', 'num_replicas: 2', 'max_batch_size: 16')), baseState,
      [['unmanaged', 'mnist', 'mnist-v1', 'not in the file (serves /srv/models/mnist.onnx); left alone (mlserve apply --prune deletes it)']], 'none'],
    ['an endpoint added', BASE + app('bert', 'model: models:/Bert@champion', 'gpus: 0.5', 'request_timeout_s: 2'), baseState,
      [['create', 'bert', null, 'new endpoint: model models:/Bert@champion, num_replicas 1, num_gpus 0.5, request_timeout_s 2']], 'none'],
    ['a canary added', yaml(canaryApp(10, ['shadow: 5']), app('mnist', 'model: ./models/mnist.onnx')), baseState,
      [['canary', 'resnet', 'resnet-v8', 'add canary at 10%, shadow 5%: model models:/ResNet50/8, num_replicas 1']], 'none'],
    ['a canary weight and shadow', yaml(canaryApp(25, ['shadow: 5']), app('mnist', 'model: ./models/mnist.onnx')), () => withCanary(10),
      [['canary', 'resnet', 'resnet-v8', 'weight 10% -> 25%; shadow 0% -> 5%']], 'none'],
    ['a canary setting', yaml(canaryApp(10, ['threads: 2']), app('mnist', 'model: ./models/mnist.onnx')), () => withCanary(10),
      [['canary', 'resnet', 'resnet-v8', 'threads 1 (default) -> 2']], 'none'],
    ['a canary removed', BASE, () => withCanary(10), [['canary', 'resnet', 'resnet-v8', 'remove canary resnet-v8 (serves models:/ResNet50/8)']], 'none'],
    ['a rollout policy', BASE.replace('  - name: mnist', '    rollout: {steps: [10, 100], interval_s: 30, max_error_rate: 0.02}\n  - name: mnist'), baseState,
      [['rollout', 'resnet', null, 'rollout policy: steps 10,100% every 30s, max error rate 0.02']], 'none'],
  ];

  it.each(CHANGES)('changing %s', (_what, next, state, want, primaryOp) => {
    const p = plan(file(next), state());
    expect(rows(p.actions)).toEqual(want);
    const resnet = p.endpoints.find((e) => e.endpoint === 'resnet');
    expect(resnet?.primary.op ?? 'none').toBe(primaryOp);
  });

  it('deletes endpoints missing from the file only with prune', () => {
    const next = yaml(app('resnet', 'name: resnet-v7', 'model: models:/ResNet50/Production', 'num_replicas: 2', 'max_batch_size: 16'));
    expect(changesOf(plan(next ? file(next) : [], baseState()))).toEqual([]);
    const p = plan(file(next), baseState(), { prune: true });
    expect(rows(p.actions)).toEqual([['delete', 'mnist', 'mnist-v1', 'endpoint not in the file (serves /srv/models/mnist.onnx)']]);
    expect(p.endpoints).toEqual([{ endpoint: 'mnist', remove: true, primary: { op: 'none' }, canary: { op: 'none' } }]);
    expect(rows(plan([], baseState(), { prune: true }).actions).map((r) => r[0])).toEqual(['delete', 'delete']);
  });

  it('treats unset settings as the defaults, explicit defaults as equal to unset', () => {
    const explicit = BASE.replace('model: ./models/mnist.onnx', [
      'model: ./models/mnist.onnx', 'runtime: onnx', 'threads: 1', 'batch_wait_ms: 0', 'max_queued_requests: 1000',
      'request_timeout_s: 30', 'health_check_period_s: 10', 'health_check_timeout_s: 30', 'ray_actor_options: {num_gpus: 0}', 'canary_weight: 0', 'warmup: true',
    ].join('\n        '));
    expect(plan(file(explicit), baseState()).actions).toEqual([]);
    // max_concurrent_batches defaults per replica kind and threads (ONNX on CPU: 2 with 2+ threads): set is not unset.
    const batches = BASE.replace('model: ./models/mnist.onnx', 'model: ./models/mnist.onnx\n        max_concurrent_batches: 1');
    expect(rows(plan(file(batches), baseState()).actions)).toEqual([['update', 'mnist', 'mnist-v1', expect.stringContaining('max_concurrent_batches')]]);
  });

  it('matches a file without a deployment name to whatever runs on the endpoint', () => {
    const current: CurrentState = { endpoints: [ep('a', 'custom')], deployments: [dep('custom', 'a', '/m/a.onnx')] };
    expect(plan(file(yaml(app('a', 'model: /m/a.onnx'))), current).actions).toEqual([]);
    expect(rows(plan(file(yaml(app('a', 'name: other', 'model: /m/a.onnx'))), current).actions)).toEqual([['replace', 'a', 'custom', 'deployment custom -> other']]);
  });

  it('compares with the deployment a pending blue-green replacement will make the primary', () => {
    const s = baseState();
    s.deployments.push(dep('resnet-v8', 'resnet', 'models:/ResNet50/8', { replicas: 2, maxBatchSize: 16 }));
    s.endpoints[1] = ep('resnet', 'resnet-v7', { nextPrimary: 'resnet-v8' });
    const next = BASE.replace('name: resnet-v7', 'name: resnet-v8').replace('models:/ResNet50/Production', 'models:/ResNet50/8');
    expect(plan(file(next), s).actions).toEqual([]);
    expect(rows(plan(file(BASE), s).actions)).toEqual([['replace', 'resnet', 'resnet-v8', 'deployment resnet-v8 -> resnet-v7; model models:/ResNet50/8 -> models:/ResNet50/Production']]);
  });

  it('compares local paths by where they point (a relative deploy, a file: URI)', () => {
    const current: CurrentState = {
      endpoints: [ep('a', 'a-v1')],
      deployments: [{ name: 'a-v1', endpoint: 'a', modelUri: './a.onnx', resolved: { kind: 'path', source: '/srv/a.onnx' }, settings: { replicas: 1 } }],
    };
    expect(plan(file(yaml(app('a', 'model: file:///srv/a.onnx'))), current).actions).toEqual([]);
    expect(rows(plan(file(yaml(app('a', 'model: /srv/b.onnx'))), current).actions)).toEqual([['replace', 'a', 'a-v1', 'model /srv/a.onnx -> /srv/b.onnx']]);
  });

  it('compares autoscaling bounds field by field (fields left out are Ray defaults); the autoscaler\'s own count is no change', () => {
    const auto = (cfg: string) => yaml(app('a', 'model: /m/a.onnx', `autoscaling_config: {${cfg}}`));
    const state = (replicas: number): CurrentState => ({
      endpoints: [ep('a', 'a-v1')],
      deployments: [{ ...dep('a-v1', 'a', '/m/a.onnx', { autoscaling: { min_replicas: 0, max_replicas: 4, upscale_delay_s: 5 } }) }].map((d) => ({ ...d, settings: { ...d.settings, replicas } })),
    });
    expect(plan(file(auto('min_replicas: 0, max_replicas: 4, upscale_delay_s: 5')), state(0)).actions).toEqual([]);
    expect(plan(file(auto('min_replicas: 0, max_replicas: 4, upscale_delay_s: 5')), state(3)).actions).toEqual([]);
    const p = plan(file(auto('min_replicas: 1, max_replicas: 8')), state(0));
    expect(rows(p.actions)).toEqual([['scale', 'a', 'a-v1', 'autoscaling_config.min_replicas 0 -> 1; autoscaling_config.max_replicas 4 -> 8; autoscaling_config.upscale_delay_s 5 -> 30']]);
    expect(rows(plan(file(yaml(app('a', 'model: /m/a.onnx', 'num_replicas: 2'))), state(0)).actions)).toEqual([['scale', 'a', 'a-v1', 'autoscaling_config -> num_replicas 2']]);
    // The latency SLO is an autoscaling field too: set, changed and removed in place.
    const slo = plan(file(auto('min_replicas: 0, max_replicas: 4, upscale_delay_s: 5, target_p99_ms: 250')), state(2));
    expect(rows(slo.actions)).toEqual([['scale', 'a', 'a-v1', 'autoscaling_config.target_p99_ms null -> 250']]);
  });

  it('compares GPU shares as the allocator does (to two decimals)', () => {
    const current: CurrentState = { endpoints: [ep('a', 'a-v1')], deployments: [dep('a-v1', 'a', '/m/a.onnx', { gpus: 0.333 })] };
    expect(plan(file(yaml(app('a', 'model: /m/a.onnx', 'ray_actor_options: {num_gpus: 0.33}'))), current).actions).toEqual([]);
    expect(rows(plan(file(yaml(app('a', 'model: /m/a.onnx', 'gpus: 0.5'))), current).actions)).toEqual([['update', 'a', 'a-v1', 'num_gpus 0.333 -> 0.5']]);
  });
});

/** A small seeded PRNG, so a failing state can be reproduced from its seed. */
const prng = mulberry32;

/** A random state the daemon can be in: endpoints with a primary, maybe a pending replacement, a canary (weight, shadow), a rollout policy. */
function randomState(r: () => number): CurrentState {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const maybe = <T>(p: number, v: () => T): T | undefined => (r() < p ? v() : undefined);
  const settings = (): Record<string, unknown> => {
    const s: Record<string, unknown> = {};
    if (r() < 0.2) s.envManager = pick(['local', 'virtualenv', 'uv']);
    if (r() < 0.2) s.warmup = false;
    if (r() < 0.3) s.autoscaling = { min_replicas: pick([0, 1]), max_replicas: pick([2, 5]), ...(r() < 0.5 ? { upscale_delay_s: pick([1, 5, 30]) } : {}), ...(r() < 0.5 ? { target_p99_ms: pick([200, 1500]) } : {}) };
    else s.replicas = pick([1, 2, 3, 8]);
    for (const [k, vals] of [['threads', [1, 2, 4]], ['maxBatchSize', [1, 8, 32]], ['batchWaitMs', [0, 2, 5]], ['maxConcurrentBatches', [1, 2]],
      ['maxOngoingRequests', [4, 64]], ['maxQueuedRequests', [10, 1000]], ['requestTimeoutMs', [250, 1500, 30_000]], ['healthCheckPeriodS', [2, 10]],
      ['healthCheckTimeoutS', [5, 30]], ['gpus', [0.25, 0.33, 1, 2]], ['trackIntervalS', [5, 30]]] as const) {
      if (r() < 0.25) s[k] = pick(vals);
    }
    return s;
  };
  const state: CurrentState = { endpoints: [], deployments: [] };
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const name = `e${i}`;
    const source = () => pick([`/models/${name}-${Math.floor(r() * 3)}.onnx`, `models:/M${i}/${1 + Math.floor(r() * 5)}`, `models:/M${i}@champion`, `models:/M${i}/Production`]);
    const primary = dep(`${name}-v1`, name, source(), settings());
    state.deployments.push(primary);
    const e = ep(name, primary.name);
    const next = maybe(0.2, () => dep(`${name}-v2`, name, source(), settings()));
    if (next) {
      state.deployments.push(next);
      e.nextPrimary = next.name;
    }
    const canary = maybe(0.4, () => dep(`${name}-c`, name, source(), settings()));
    if (canary) {
      state.deployments.push(canary);
      e.canary = canary.name;
      e.canaryWeight = pick([0, 1, 12.5, 25, 99.99, 100]);
      e.shadowWeight = pick([0, 0, 5, 50]);
    }
    const policy = maybe(0.3, () => validatePolicy({ steps: pick(['10,100', '5,25,50,100']), intervalS: pick([10, 60]), maxErrorRate: pick([0, 0.01]), ...(r() < 0.5 ? { maxP99Ms: 200 } : {}), minRequests: pick([0, 100]) }));
    if (policy) e.rollout = { policy, state: r() < 0.5 ? { status: 'running', step: 0 } : undefined };
    state.endpoints.push(e);
  }
  return state;
}

describe('mlserve config | mlserve apply -f - --dry-run', () => {
  it('plans nothing for any state the daemon can be in (500 generated states: canaries, shadows, replacements, policies, tracking, warm-up off, latency targets)', () => {
    let warmupOff = 0;
    let sloTargets = 0;
    for (let seed = 1; seed <= 500; seed++) {
      const state = randomState(prng(seed));
      const printed = renderConfig(stateToDesired(state), ['mlserve config']);
      const back = parseConfig(printed, { baseDir: '/elsewhere' });
      expect(back.issues, `seed ${seed}:\n${printed}`).toEqual([]);
      expect(back.desired, `seed ${seed}`).toEqual(stateToDesired(state));
      expect(plan(back.desired, state, { prune: true }).actions, `seed ${seed}:\n${printed}`).toEqual([]);
      if (printed.includes('warmup: false')) warmupOff++;
      if (printed.includes('target_p99_ms:')) sloTargets++;
    }
    expect(warmupOff).toBeGreaterThan(20);
    expect(sloTargets).toBeGreaterThan(20);
  });

  it('plans nothing with a canary at 25% (the issue\'s bar), and the printed file names every deployment', () => {
    const s = baseState();
    s.deployments.push(dep('resnet-v8', 'resnet', 'models:/ResNet50/8', { threads: 2 }));
    s.endpoints[1] = ep('resnet', 'resnet-v7', { canary: 'resnet-v8', canaryWeight: 25 });
    const printed = renderConfig(stateToDesired(s));
    expect(printed).toContain('canary:');
    expect(printed).toContain('weight: 25');
    const back = file(printed);
    expect(plan(back, s).actions).toEqual([]);
    expect(back.map((d) => [d.primary.name, d.canary?.name])).toEqual([['mnist-v1', undefined], ['resnet-v7', 'resnet-v8']]);
    expect(validateAutoscaling).toBeTypeOf('function');
  });
});
