// The apply plan: create / delete / scale / update with what differs, run order, and idempotence
// (applying a plan to a simulated daemon, then planning again, gives nothing; so does the file
// `mlserve config` prints).
import { describe, expect, it } from 'vitest';
import { validateAutoscaling } from '../../../src/daemon/fleet/autoscaler.js';
import { deploySettings } from '../../../src/daemon/control/settings.js';
import { currentToDesired, describeChange, plan, type CurrentDeployment, type PlanAction } from '../../../src/config/plan.js';
import { parseConfig, renderConfig, type DesiredDeployment } from '../../../src/config/schema.js';

const file = (text: string) => {
  const r = parseConfig(text, { baseDir: '/srv' });
  if (r.issues.length) throw new Error(JSON.stringify(r.issues));
  return r.desired;
};
const app = (endpoint: string, ...lines: string[]) =>
  [`  - name: ${endpoint}`, '    deployments:', ...lines.map((l, i) => `${i === 0 ? '      - ' : '        '}${l}`)].join('\n');
const yaml = (...apps: string[]) => `applications:\n${apps.join('\n')}\n`;

/** What the daemon stores for a deploy request (the real settings code), as GET /v1/status shows it. */
function deployed(body: NonNullable<PlanAction['deploy']>, version = '1'): CurrentDeployment {
  const path = body.source.startsWith('/');
  return {
    name: body.name ?? `${body.endpoint}-v${version}`, endpoint: body.endpoint, modelUri: body.source,
    resolved: path ? { kind: 'path', source: body.source } : { kind: 'registry' },
    settings: deploySettings(JSON.parse(JSON.stringify(body))),
  };
}

/** Carry a plan out on a simulated daemon, the way the controller does. */
function run(actions: PlanAction[], current: CurrentDeployment[]): CurrentDeployment[] {
  let state = JSON.parse(JSON.stringify(current)) as CurrentDeployment[];
  for (const a of actions) {
    if (a.undeploy !== undefined) {
      const byEndpoint = state.some((d) => d.endpoint === a.undeploy);
      state = state.filter((d) => (byEndpoint ? d.endpoint !== a.undeploy : d.name !== a.undeploy));
    }
    if (a.deploy) {
      const row = deployed(a.deploy);
      if (state.some((d) => d.name === row.name || d.endpoint === row.endpoint)) throw new Error(`conflict: ${row.name}`);
      state.push(row);
    }
    if (a.scale) {
      const d = state.find((x) => x.name === a.deployment)!;
      if ('autoscaling' in a.scale) d.settings.autoscaling = validateAutoscaling({ ...d.settings.autoscaling, ...a.scale.autoscaling });
      else d.settings = { ...d.settings, autoscaling: undefined, replicas: a.scale.replicas };
    }
  }
  return JSON.parse(JSON.stringify(state));
}

const rows = (actions: PlanAction[]) => actions.map((a) => [a.action, a.endpoint, a.deployment, describeChange(a)]);

const BASE = yaml(
  app('resnet', 'name: resnet-v7', 'model: models:/ResNet50/Production', 'num_replicas: 2', 'max_batch_size: 16'),
  app('mnist', 'model: ./models/mnist.onnx'),
);
const baseState = () => run(plan(file(BASE), []), []);

describe('plan', () => {
  it('creates every endpoint of a file on an empty daemon', () => {
    const p = plan(file(BASE), []);
    expect(rows(p)).toEqual([
      ['create', 'resnet', 'resnet-v7', 'new endpoint: model models:/ResNet50/Production, num_replicas 2, max_batch_size 16'],
      ['create', 'mnist', null, 'new endpoint: model /srv/models/mnist.onnx, num_replicas 1'],
    ]);
    expect(p[0].deploy).toEqual({ source: 'models:/ResNet50/Production', endpoint: 'resnet', name: 'resnet-v7', replicas: 2, maxBatchSize: 16 });
    expect(p[1].deploy).toEqual({ source: '/srv/models/mnist.onnx', endpoint: 'mnist', replicas: 1 });
  });

  // [what, the new file, the plan rows, the scale/undeploy details checked]
  const CHANGES: Array<[string, string, unknown[][], Partial<PlanAction>[]]> = [
    ['nothing', BASE, [], []],
    ['num_replicas', BASE.replace('num_replicas: 2', 'num_replicas: 4'),
      [['scale', 'resnet', 'resnet-v7', 'num_replicas 2 -> 4']], [{ scale: { replicas: 4 } }]],
    ['fixed -> autoscaling', BASE.replace('num_replicas: 2', 'autoscaling_config: {min_replicas: 1, max_replicas: 3}'),
      [['scale', 'resnet', 'resnet-v7', 'num_replicas 2 -> autoscaling_config (min_replicas 1, max_replicas 3, target_ongoing_requests 2)']],
      [{ scale: { autoscaling: validateAutoscaling({ min_replicas: 1, max_replicas: 3 }) } }]],
    ['a model', BASE.replace('models:/ResNet50/Production', 'models:/ResNet50/8'),
      [['update', 'resnet', 'resnet-v7', 'model models:/ResNet50/Production -> models:/ResNet50/8']], [{ undeploy: 'resnet' }]],
    ['a setting', BASE.replace('max_batch_size: 16', 'max_batch_size: 8'),
      [['update', 'resnet', 'resnet-v7', 'max_batch_size 16 -> 8']], [{ undeploy: 'resnet' }]],
    ['a setting dropped (back to the model default)', BASE.replace('\n        max_batch_size: 16', ''),
      [['update', 'resnet', 'resnet-v7', 'max_batch_size 16 -> default']], []],
    ['a setting and the replicas: one replacement', BASE.replace('max_batch_size: 16', 'threads: 4').replace('num_replicas: 2', 'num_replicas: 1'),
      [['update', 'resnet', 'resnet-v7', 'threads 1 (default) -> 4; max_batch_size 16 -> default; num_replicas 2 -> 1']], []],
    ['a deployment name', BASE.replace('name: resnet-v7', 'name: resnet-next'),
      [['update', 'resnet', 'resnet-v7', 'deployment resnet-v7 -> resnet-next']], [{ deploy: expect.objectContaining({ name: 'resnet-next' }) }]],
    ['an endpoint removed', yaml(app('resnet', 'name: resnet-v7', 'model: models:/ResNet50/Production', 'num_replicas: 2', 'max_batch_size: 16')),
      [['delete', 'mnist', 'mnist-v1', 'endpoint not in the file (serves /srv/models/mnist.onnx)']], [{ undeploy: 'mnist' }]],
    ['an endpoint added', BASE + app('bert', 'model: models:/Bert@champion', 'gpus: 0.5', 'request_timeout_s: 2'),
      [['create', 'bert', null, 'new endpoint: model models:/Bert@champion, num_replicas 1, num_gpus 0.5, request_timeout_s 2']], []],
    ['everything removed', 'applications: []\n',
      [['delete', 'resnet', 'resnet-v7', 'endpoint not in the file (serves models:/ResNet50/Production)'],
        ['delete', 'mnist', 'mnist-v1', 'endpoint not in the file (serves /srv/models/mnist.onnx)']], []],
  ];

  it.each(CHANGES)('changing %s', (_what, next, want, details) => {
    const before = baseState();
    const p = plan(file(next), before);
    expect(rows(p)).toEqual(want);
    details.forEach((d, i) => expect(p[i]).toMatchObject(d));
    // Applying it converges: planning again gives nothing.
    expect(plan(file(next), run(p, before))).toEqual([]);
  });

  it('orders deletes, updates, creates, scales', () => {
    const next = yaml(
      app('resnet', 'name: resnet-v7', 'model: models:/ResNet50/Production', 'num_replicas: 3', 'max_batch_size: 16'),
      app('new', 'model: /m/new.onnx'),
      app('mnist', 'model: ./models/mnist.onnx', 'threads: 2'),
    );
    const before = [...baseState(), deployed({ source: '/old.onnx', endpoint: 'old', replicas: 1 })];
    const p = plan(file(next), before);
    expect(p.map((a) => `${a.action} ${a.endpoint}`)).toEqual(['delete old', 'update mnist', 'create new', 'scale resnet']);
    expect(plan(file(next), run(p, before))).toEqual([]);
  });

  it('treats unset settings as the defaults, explicit defaults as equal to unset', () => {
    const before = baseState();
    const explicit = BASE.replace('model: ./models/mnist.onnx', [
      'model: ./models/mnist.onnx', 'threads: 1', 'batch_wait_ms: 0', 'max_concurrent_batches: 1', 'max_queued_requests: 1000',
      'request_timeout_s: 30', 'health_check_period_s: 10', 'health_check_timeout_s: 30', 'ray_actor_options: {num_gpus: 0}', 'canary_weight: 0',
    ].join('\n        '));
    expect(plan(file(explicit), before)).toEqual([]);
  });

  it('matches a file without a deployment name to whatever runs on the endpoint', () => {
    const current = [deployed({ source: '/m/a.onnx', endpoint: 'a', name: 'custom', replicas: 1 })];
    expect(plan(file(yaml(app('a', 'model: /m/a.onnx'))), current)).toEqual([]);
    expect(rows(plan(file(yaml(app('a', 'name: other', 'model: /m/a.onnx'))), current))).toEqual([['update', 'a', 'custom', 'deployment custom -> other']]);
  });

  it('compares local paths by where they point (a relative deploy, a file: URI)', () => {
    const current: CurrentDeployment[] = [{
      name: 'a-v1', endpoint: 'a', modelUri: './a.onnx', resolved: { kind: 'path', version: '1', source: '/srv/a.onnx' } as never, settings: { replicas: 1 },
    }];
    expect(plan(file(yaml(app('a', 'model: file:///srv/a.onnx'))), current)).toEqual([]);
    expect(rows(plan(file(yaml(app('a', 'model: /srv/b.onnx'))), current))).toEqual([['update', 'a', 'a-v1', 'model /srv/a.onnx -> /srv/b.onnx']]);
  });

  it('scales autoscaling bounds in place, sending the whole config (fields left out go back to Ray defaults)', () => {
    const auto = (cfg: string) => yaml(app('a', 'model: /m/a.onnx', `autoscaling_config: {${cfg}}`));
    const before = run(plan(file(auto('min_replicas: 0, max_replicas: 4, upscale_delay_s: 5')), []), []);
    expect(before[0].settings.replicas).toBe(0);
    expect(plan(file(auto('min_replicas: 0, max_replicas: 4, upscale_delay_s: 5')), before)).toEqual([]);
    // The autoscaler moves the replica count: not a change of the file's settings.
    expect(plan(file(auto('min_replicas: 0, max_replicas: 4, upscale_delay_s: 5')), [{ ...before[0], settings: { ...before[0].settings, replicas: 3 } }])).toEqual([]);
    const p = plan(file(auto('min_replicas: 1, max_replicas: 8')), before);
    expect(rows(p)).toEqual([['scale', 'a', 'a-v1', 'autoscaling_config.min_replicas 0 -> 1; autoscaling_config.max_replicas 4 -> 8; autoscaling_config.upscale_delay_s 5 -> 30']]);
    expect(p[0].scale).toEqual({ autoscaling: validateAutoscaling({ min_replicas: 1, max_replicas: 8 }) });
    expect(plan(file(auto('min_replicas: 1, max_replicas: 8')), run(p, before))).toEqual([]);
    const fixed = plan(file(yaml(app('a', 'model: /m/a.onnx', 'num_replicas: 2'))), before);
    expect(rows(fixed)).toEqual([['scale', 'a', 'a-v1', 'autoscaling_config -> num_replicas 2']]);
    expect(fixed[0].scale).toEqual({ replicas: 2 });
  });

  it('compares GPU shares as the allocator does (to two decimals)', () => {
    const current = [deployed({ source: '/m/a.onnx', endpoint: 'a', replicas: 1, gpus: 0.333 })];
    expect(plan(file(yaml(app('a', 'model: /m/a.onnx', 'ray_actor_options: {num_gpus: 0.33}'))), current)).toEqual([]);
    expect(rows(plan(file(yaml(app('a', 'model: /m/a.onnx', 'gpus: 0.5'))), current))).toEqual([['update', 'a', 'a-v1', 'num_gpus 0.333 -> 0.5']]);
  });

  it('removes a deployment by name when its endpoint keeps another (several per endpoint)', () => {
    const current = [
      deployed({ source: '/m/a.onnx', endpoint: 'a', name: 'a-1', replicas: 1 }),
      { ...deployed({ source: '/m/b.onnx', endpoint: 'a', name: 'a-2', replicas: 1 }) },
    ];
    const p = plan(file(yaml(app('a', 'name: a-1', 'model: /m/a.onnx'))), current);
    expect(rows(p)).toEqual([['delete', 'a', 'a-2', 'deployment not in the file (serves /m/b.onnx)']]);
    expect(p[0].undeploy).toBe('a-2');
  });
});

describe('mlserve config output', () => {
  it('parses back to the running state, and applying it plans nothing', () => {
    const text = yaml(
      BASE.replace('applications:\n', '').trimEnd(),
      app('bert', 'model: models:/Bert@champion', 'autoscaling_config: {min_replicas: 0, max_replicas: 3, look_back_period_s: 10}', 'gpus: 0.25',
        'batch_wait_timeout_s: 0.003', 'request_timeout_s: 0.25', 'max_ongoing_requests: 7', 'max_queued_requests: 50', 'health_check_period_s: 2'),
    );
    const state = run(plan(file(text), []), []);
    const desired: DesiredDeployment[] = state.map(currentToDesired);
    const printed = renderConfig(desired, ['mlserve config']);
    const back = parseConfig(printed, { baseDir: '/elsewhere' });
    expect(back.issues).toEqual([]);
    expect(back.desired).toEqual(desired);
    expect(plan(back.desired, state)).toEqual([]);
    // The printed file names every deployment, so it pins them.
    expect(back.desired.map((d) => d.name)).toEqual(['resnet-v7', 'mnist-v1', 'bert-v1']);
  });
});
