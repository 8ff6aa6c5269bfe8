// The config file's schema: what it accepts, how it normalizes, and an error (with line:column and
// what is accepted) for every way a file can be wrong.
import { describe, expect, it } from 'vitest';
import { AUTOSCALING_DEFAULTS, validateAutoscaling } from '../../../src/daemon/fleet/autoscaler.js';
import { formatIssues, parseConfig } from '../../../src/config/schema.js';
import { renderConfig } from '../../../src/config/render.js';

/** One application with one deployment whose body lines are `lines` (each at column 9). */
const oneDeployment = (...lines: string[]) =>
  ['applications:', '  - name: resnet50', '    deployments:', '      - model: models:/ResNet50/Production', ...lines.map((l) => `        ${l}`)].join('\n');

const errors = (text: string, baseDir?: string) => formatIssues('mlserve.yaml', parseConfig(text, { baseDir }).issues);

describe('config schema: a valid file', () => {
  it('normalizes every setting of the documented example to the control API names', () => {
    const text = `# mlserve.yaml
applications:
  - name: resnet50
    deployments:
      - name: resnet50-v7
        model: models:/ResNet50/Production
        num_replicas: 2
        ray_actor_options: {num_gpus: 0.33}
        threads: 2
        max_batch_size: 32
        batch_wait_timeout_s: 0.005
        max_concurrent_batches: 2
        max_ongoing_requests: 64
        max_queued_requests: 1000
        request_timeout_s: 30
        health_check_period_s: 10
        health_check_timeout_s: 30
        canary_weight: 0
  - name: mnist
    deployments:
      - model: ./models/mnist.onnx
        autoscaling_config: {min_replicas: 0, max_replicas: 4, target_ongoing_requests: 3}
        gpus: 0.333
        batch_wait_ms: 2
`;
    const r = parseConfig(text, { baseDir: '/srv/conf' });
    expect(r.issues).toEqual([]);
    expect(r.desired).toEqual([
      {
        endpoint: 'resnet50',
        primary: {
          name: 'resnet50-v7', source: 'models:/ResNet50/Production',
          request: {
            replicas: 2, gpus: 0.33, threads: 2, maxBatchSize: 32, batchWaitMs: 5, maxConcurrentBatches: 2, maxOngoingRequests: 64,
            maxQueuedRequests: 1000, requestTimeoutMs: 30_000, healthCheckPeriodS: 10, healthCheckTimeoutS: 30,
          },
        },
      },
      {
        endpoint: 'mnist',
        primary: {
          source: '/srv/conf/models/mnist.onnx',
          request: { autoscaling: validateAutoscaling({ min_replicas: 0, max_replicas: 4, target_ongoing_requests: 3 }), gpus: 0.33, batchWaitMs: 2 },
        },
      },
    ]);
  });

  it('defaults: one replica, no name, and only what the file sets', () => {
    const r = parseConfig(oneDeployment());
    expect(r.desired).toEqual([{ endpoint: 'resnet50', primary: { source: 'models:/ResNet50/Production', request: { replicas: 1 } } }]);
  });

  it('resolves local paths (and file: URIs) against the base dir, leaves registry URIs alone', () => {
    const text = (m: string) => `applications:\n  - name: a\n    deployments:\n      - model: ${m}\n`;
    expect(parseConfig(text('m.onnx'), { baseDir: '/x/y' }).desired[0].primary.source).toBe('/x/y/m.onnx');
    expect(parseConfig(text('../m'), { baseDir: '/x/y' }).desired[0].primary.source).toBe('/x/m');
    expect(parseConfig(text('/abs/m.onnx'), { baseDir: '/x/y' }).desired[0].primary.source).toBe('/abs/m.onnx');
    expect(parseConfig(text('file:///abs/m.onnx'), { baseDir: '/x/y' }).desired[0].primary.source).toBe('/abs/m.onnx');
    expect(parseConfig(text('runs:/0123abcd/model'), { baseDir: '/x/y' }).desired[0].primary.source).toBe('runs:/0123abcd/model');
    expect(parseConfig(text('m.onnx')).desired[0].primary.source).toBe('m.onnx');
  });

  it('takes gpus: as ray_actor_options.num_gpus, and 0 as no GPU', () => {
    expect(parseConfig(oneDeployment('gpus: 2')).desired[0].primary.request.gpus).toBe(2);
    expect(parseConfig(oneDeployment('ray_actor_options: {num_gpus: 0}')).desired[0].primary.request).toEqual({ replicas: 1 });
  });

  it('accepts an explicit empty list (remove every endpoint) and YAML anchors', () => {
    expect(parseConfig('applications: []\n')).toEqual({ desired: [], issues: [] });
    const text = 'x: &opts {num_replicas: 3}\napplications: []\n';
    expect(errors(text)).toEqual([expect.stringMatching(/^mlserve.yaml:1:1: unknown key "x" in the file; accepted: applications$/)]);
    const alias = 'applications:\n  - name: a\n    deployments:\n      - &d {model: a.onnx, num_replicas: 3}\n  - name: b\n    deployments: [*d]\n';
    expect(parseConfig(alias).issues).toEqual([]);
    expect(parseConfig(alias).desired.map((d) => [d.endpoint, d.primary.request.replicas])).toEqual([['a', 3], ['b', 3]]);
  });
});

// [what, file text, every error as `mlserve.yaml:line:col: message` (a regexp source when it starts with ^)]
const CASES: Array<[string, string, string[]]> = [
  ['a word for a number', oneDeployment('num_replicas: two'), ['mlserve.yaml:5:9: num_replicas must be a whole number from 1 to 64 (got "two")']],
  ['replicas out of range', oneDeployment('num_replicas: 65'), ['mlserve.yaml:5:9: num_replicas must be a whole number from 1 to 64 (got 65)']],
  ['a fraction of a replica', oneDeployment('num_replicas: 1.5'), ['mlserve.yaml:5:9: num_replicas must be a whole number from 1 to 64 (got 1.5)']],
  ['an empty value', oneDeployment('threads:'), ['mlserve.yaml:5:9: threads must be a whole number from 1 to 256 (got nothing)']],
  ['a list for a number', oneDeployment('max_batch_size: [1]'), ['mlserve.yaml:5:9: max_batch_size must be a whole number from 1 to 4096 (got a list)']],
  ['batch wait in seconds below a millisecond', oneDeployment('batch_wait_timeout_s: 0.0005'),
    ['mlserve.yaml:5:9: batch_wait_timeout_s must be a number of seconds from 0 to 60, in whole milliseconds (got 0.0005)']],
  ['negative batch wait', oneDeployment('batch_wait_ms: -1'), ['mlserve.yaml:5:9: batch_wait_ms must be a whole number from 0 to 60000 (got -1)']],
  ['both batch waits', oneDeployment('batch_wait_ms: 1', 'batch_wait_timeout_s: 0.001'),
    ['mlserve.yaml:6:9: batch_wait_ms and batch_wait_timeout_s exclude each other: give the batch wait once, in milliseconds or in seconds']],
  ['request timeout of 0', oneDeployment('request_timeout_s: 0'), ['mlserve.yaml:5:9: request_timeout_s must be a number of seconds from 0.001 to 3600, in whole milliseconds (got 0)']],
  ['queue bound of Ray\'s -1', oneDeployment('max_queued_requests: -1'), ['mlserve.yaml:5:9: max_queued_requests must be a whole number from 1 to 1000000 (got -1)']],
  ['health check period 0', oneDeployment('health_check_period_s: 0'), ['mlserve.yaml:5:9: health_check_period_s must be a whole number from 1 to 3600 (got 0)']],
  ['health check timeout as text', oneDeployment('health_check_timeout_s: "30"'), ['mlserve.yaml:5:9: health_check_timeout_s must be a whole number from 1 to 3600 (got "30")']],
  ['both num_replicas and autoscaling_config', oneDeployment('num_replicas: 2', 'autoscaling_config: {max_replicas: 4}'),
    ['mlserve.yaml:6:9: num_replicas and autoscaling_config exclude each other: set a fixed num_replicas, or autoscaling_config for load-based scaling']],
  ['an unknown autoscaling field', oneDeployment('autoscaling_config:', '  max_replicas: 4', '  max_replica: 4'),
    ['^mlserve.yaml:7:11: unknown key "max_replica" in autoscaling_config; accepted: min_replicas, max_replicas, .*aggregation_function$']],
  ['a bad autoscaling value', oneDeployment('autoscaling_config:', '  target_ongoing_requests: 0'),
    ['mlserve.yaml:6:11: autoscaling_config: target_ongoing_requests must be a number above 0 (got 0)']],
  ['a latency target of 0', oneDeployment('autoscaling_config:', '  target_p99_ms: 0'),
    ['mlserve.yaml:6:11: autoscaling_config: target_p99_ms must be a number above 0 (got 0)']],
  ['a latency target with a unit', oneDeployment('autoscaling_config:', '  target_p99_ms: 200ms'),
    ['mlserve.yaml:6:11: autoscaling_config: target_p99_ms must be a number above 0 (got "200ms")']],
  ['autoscaling min above max', oneDeployment('autoscaling_config: {min_replicas: 5, max_replicas: 2}'),
    ['mlserve.yaml:5:9: autoscaling_config: min_replicas (5) must not be above max_replicas (2)']],
  ['autoscaling not a mapping', oneDeployment('autoscaling_config: 4'),
    ['^mlserve.yaml:5:29: autoscaling_config must be a mapping with min_replicas, max_replicas, .* \\(got 4\\)$']],
  ['a Ray actor option mlserve does not use', oneDeployment('ray_actor_options: {num_cpus: 2}'),
    ['mlserve.yaml:5:29: unknown key "num_cpus" in ray_actor_options (set threads, the onnxruntime intra-op threads per replica); accepted: num_gpus']],
  ['negative GPUs', oneDeployment('ray_actor_options: {num_gpus: -1}'),
    ['mlserve.yaml:5:29: ray_actor_options.num_gpus must be a number of GPUs per replica: 0, a fraction such as 0.25 or 0.33, or a whole number (got -1)']],
  ['1.5 GPUs', oneDeployment('gpus: 1.5'), ['^mlserve.yaml:5:9: gpus: a GPU share above 1 must be a whole number of GPUs \\(got 1.5\\)']],
  ['gpus twice', oneDeployment('gpus: 1', 'ray_actor_options: {num_gpus: 1}'),
    ['mlserve.yaml:6:29: gpus and ray_actor_options.num_gpus exclude each other: give the GPUs per replica once']],
  ['a canary weight on the deployment', oneDeployment('canary_weight: 10'), ["mlserve.yaml:5:9: canary_weight 10: a canary is the application's canary: mapping (model:, weight:, shadow:), beside deployments:"]],
  ['a canary weight out of range', oneDeployment('canary_weight: 101'), ['mlserve.yaml:5:9: canary_weight must be a number from 0 to 100 (got 101)']],
  ['an unknown runtime', oneDeployment('runtime: tensorflow'), ['^mlserve.yaml:5:9: runtime must be one of onnx.* \\(got "tensorflow"\\)$']],
  ['a warm-up that is not a boolean', oneDeployment('warmup: sometimes'), ['mlserve.yaml:5:9: warmup must be true or false (got "sometimes"): whether each replica runs one request built from the signature before it reports ready']],
  ['a track interval of 0', oneDeployment('track_interval_s: 0'), ['^mlserve.yaml:5:9: track_interval_s must be a whole number of seconds from 1 to 86400']],
  ['a canary without weight', `${oneDeployment()}\n    canary: {model: b.onnx}`, ["mlserve.yaml:5:13: the canary needs weight: the percent of the endpoint's traffic it takes (0 to start dark)"]],
  ['a canary weight above 100', `${oneDeployment()}\n    canary: {model: b.onnx, weight: 150}`, ["mlserve.yaml:5:29: weight must be a number from 0 to 100 (percent of the endpoint's traffic) (got 150)"]],
  ['a canary with an unknown key', `${oneDeployment()}\n    canary: {model: b.onnx, weight: 5, mirror: 2}`, ['^mlserve.yaml:5:40: unknown key "mirror" in the canary; accepted: name, model, .*weight, shadow$']],
  ['rollout steps that go down', `${oneDeployment()}\n    rollout: {steps: [50, 10], interval_s: 60, max_error_rate: 0.01}`, ['^mlserve.yaml:5:5: rollout: invalid canary analysis policy: steps \\[50,10\\]: weights must ascend']],
  ['rollout without its interval', `${oneDeployment()}\n    rollout: {steps: [10, 100], max_error_rate: 0.01}`, ['^mlserve.yaml:5:5: rollout: invalid canary analysis policy: interval is missing; give interval_s']],
  ['an unknown deployment key with a Ray hint', oneDeployment('route_prefix: /r'),
    ['^mlserve.yaml:5:9: unknown key "route_prefix" in a deployment \\(every endpoint is served at .*\\); accepted: name, model, runtime, env_manager, num_replicas, .*canary_weight, warmup, pipeline$']],
  ['a misspelt key', oneDeployment('replicas: 2'), ['^mlserve.yaml:5:9: unknown key "replicas" in a deployment; accepted: name, model, runtime, env_manager, num_replicas,']],
  ['a model URI mlserve cannot read', 'applications:\n  - name: a\n    deployments:\n      - model: s3://bucket/model\n',
    ['^mlserve.yaml:4:9: model: model source \'s3://bucket/model\' uses the s3: scheme, .*Accepted forms: models:/<name>/<version>']],
  ['no model', 'applications:\n  - name: a\n    deployments:\n      - num_replicas: 2\n',
    ['mlserve.yaml:4:9: a deployment needs model: its model source (a .onnx file, an MLflow model directory, models:/Name/Stage, ...)']],
  ['a model that is not text', 'applications:\n  - name: a\n    deployments:\n      - model: 7\n', ['^mlserve.yaml:4:9: model must be a model source: .* \\(got 7\\)$']],
  ['an upper-case endpoint', 'applications:\n  - name: ResNet\n    deployments:\n      - model: a.onnx\n',
    ["mlserve.yaml:2:5: an application name (the endpoint) must be lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters (got \"ResNet\")"]],
  ['a bad deployment name', oneDeployment('name: my model'), ['^mlserve.yaml:5:9: a deployment name must be lowercase letters, .* \\(got "my model"\\)$']],
  ['duplicate endpoints', 'applications:\n  - name: a\n    deployments: [{model: a.onnx}]\n  - name: a\n    deployments: [{model: b.onnx}]\n',
    ["mlserve.yaml:4:5: duplicate endpoint 'a' (first at line 2); each application name must be unique"]],
  ['duplicate deployment names across endpoints',
    'applications:\n  - name: a\n    deployments: [{name: m-v1, model: a.onnx}]\n  - name: b\n    deployments: [{name: m-v1, model: b.onnx}]\n',
    ["mlserve.yaml:5:20: duplicate deployment name 'm-v1' (first at line 3); deployment names are unique across endpoints"]],
  ['two deployments on one endpoint', 'applications:\n  - name: a\n    deployments:\n      - model: a.onnx\n      - model: b.onnx\n',
    ['mlserve.yaml:5:9: an endpoint takes one deployment under deployments:; put a second version under canary: (model:, weight:, shadow:) beside deployments:']],
  ['no deployments', 'applications:\n  - name: a\n', ['mlserve.yaml:2:5: an application needs deployments: a list with one deployment (name:, model:, num_replicas:, ...)']],
  ['empty deployments', 'applications:\n  - name: a\n    deployments: []\n',
    ['mlserve.yaml:3:5: deployments must be a list with one deployment (name:, model:, num_replicas:, ...) (got an empty list)']],
  ['an application without a name', 'applications:\n  - deployments: [{model: a.onnx}]\n',
    ["mlserve.yaml:2:5: an application needs name: its endpoint's name (lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters)"]],
  ['an unknown application key', 'applications:\n  - name: a\n    import_path: app:model\n    deployments: [{model: a.onnx}]\n',
    ['^mlserve.yaml:3:5: unknown key "import_path" in an application \\(mlserve serves models, not Python code.*\\); accepted: name, deployments, canary, rollout$']],
  ['applications not a list', 'applications: resnet\n',
    ['mlserve.yaml:1:1: applications must be a list of endpoints, each with name: and deployments: (got "resnet"); to remove every endpoint write applications: []']],
  ['applications left empty', 'applications:\n',
    ['mlserve.yaml:1:1: applications must be a list of endpoints, each with name: and deployments: (got nothing); to remove every endpoint write applications: []']],
  ['no applications', 'http_options: {port: 8000}\n',
    ['^mlserve.yaml:1:1: unknown key "http_options" in the file \\(the daemon\'s host and port are flags of mlserve daemon start\\); accepted: applications$',
      'mlserve.yaml:1:1: the file needs applications: a list of endpoints, each with name: and deployments:']],
  ['an empty file', '# nothing\n', ['mlserve.yaml:1:1: the file is empty; it needs applications: a list of endpoints, each with name: and deployments:']],
  ['a list at the top', '- name: a\n', ['mlserve.yaml:1:1: the file must be a mapping with applications (got a list)']],
  ['a YAML duplicate key', oneDeployment('threads: 1', 'threads: 2'), ['mlserve.yaml:6:9: YAML: Map keys must be unique: each key may appear once']],
  ['broken YAML', 'applications: [\n', ['^mlserve.yaml:2:1: YAML: ']],
];

describe('config schema: every error names line:column and what is accepted', () => {
  it.each(CASES)('%s', (_what, text, want) => {
    const got = errors(text);
    expect(got.length, got.join('\n')).toBe(want.length);
    want.forEach((w, i) => (w.startsWith('^') ? expect(got[i]).toMatch(new RegExp(w)) : expect(got[i]).toBe(w)));
  });

  it('reports all errors of a file at once, in file order, and returns no desired state then', () => {
    const text = oneDeployment('num_replicas: two', 'threads: 0', 'bogus: 1', 'canary_weight: 5');
    const r = parseConfig(text);
    expect(r.desired).toEqual([]);
    expect(r.issues.map((i) => `${i.line}:${i.col}`)).toEqual(['5:9', '6:9', '7:9', '8:9']);
  });
});

describe('config schema: canaries and rollout policies', () => {
  it('reads a canary (deployment keys + weight and shadow) and a rollout policy in the file\'s snake_case', () => {
    const text = `${oneDeployment('name: r-v1', 'threads: 2', 'track_interval_s: 30')}
    canary:
      name: r-v2
      model: models:/ResNet50/2
      weight: 12.5
      shadow: 5
      max_batch_size: 8
    rollout:
      steps: [10, 25, 50, 100]
      interval_s: 60
      max_error_rate: 0.01
      max_p99_ms: 200
      min_requests: 50
`;
    const r = parseConfig(text);
    expect(r.issues).toEqual([]);
    expect(r.desired).toEqual([{
      endpoint: 'resnet50',
      primary: { name: 'r-v1', source: 'models:/ResNet50/Production', request: { replicas: 1, threads: 2, trackIntervalS: 30 } },
      canary: { name: 'r-v2', source: 'models:/ResNet50/2', request: { replicas: 1, maxBatchSize: 8 }, weight: 12.5, shadow: 5 },
      rollout: { steps: [10, 25, 50, 100], intervalS: 60, maxErrorRate: 0.01, maxP99Ms: 200, minRequests: 50 },
    }]);
    expect(parseConfig(renderConfig(r.desired))).toEqual(r);
  });
});

describe('config schema: rendering', () => {
  it('prints a file that parses back to the same desired state, with a header comment', () => {
    const text = `applications:
  - name: a
    deployments:
      - name: a-v3
        model: /m/a.onnx
        num_replicas: 3
        request_timeout_s: 1.001
        batch_wait_timeout_s: 0.002
        gpus: 0.5
  - name: b
    deployments:
      - model: models:/B@champion
        autoscaling_config: {min_replicas: 0, max_replicas: 5, downscale_to_zero_delay_s: 60, aggregation_function: max}
`;
    const first = parseConfig(text);
    expect(first.issues).toEqual([]);
    const out = renderConfig(first.desired, ['written by a test']);
    expect(out.startsWith('# written by a test\napplications:\n')).toBe(true);
    expect(out).toContain('batch_wait_ms: 2');
    expect(out).not.toContain('smoothing_factor'); // Ray defaults are left out
    expect(parseConfig(out)).toEqual(first);
    expect(first.desired[1].primary.request.autoscaling).toEqual({ ...AUTOSCALING_DEFAULTS, min_replicas: 0, max_replicas: 5, downscale_to_zero_delay_s: 60, aggregation_function: 'max' });
  });
});
