// KServe InferenceService manifests from a status answer (PURE: no daemon needed).
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { kserveManifests, kserveName, servicesYaml, type ExportDeployment, type ExportStatus } from '../../../src/export/kserve.js';
import { tritonConfig, tritonLayout } from '../../../src/export/triton.js';

const dep = (over: Partial<ExportDeployment> & { settings?: Partial<ExportDeployment['settings']> } = {}): ExportDeployment => ({
  name: 'resnet50-v7',
  endpoint: 'resnet50',
  modelUri: 'models:/ResNet50/Production',
  resolved: { kind: 'registry', name: 'ResNet50', version: '7', source: 's3://models/resnet50/7/model', registry: 'http://mlflow:5000' },
  state: 'ready',
  ...over,
  settings: { replicas: 2, ...over.settings },
});
const status = (...deployments: ExportDeployment[]): ExportStatus => ({
  endpoints: [...new Set(deployments.map((d) => d.endpoint))].map((name) => ({ name, primary: deployments.find((d) => d.endpoint === name)!.name })),
  deployments,
});

function requiredFields(m: ReturnType<typeof kserveManifests>[number]['manifest']) {
  expect(m.apiVersion).toBe('serving.kserve.io/v1beta1');
  expect(m.kind).toBe('InferenceService');
  expect(m.metadata.name).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
  expect(m.spec.predictor.model.protocolVersion).toBe('v2');
  expect(m.spec.predictor.model.storageUri).toBeTruthy();
}

describe('kserve export', () => {
  it('fixed replicas from a registry version in s3: storageUri as is, min = max = replicas', () => {
    const [svc] = kserveManifests(status(dep()));
    requiredFields(svc.manifest);
    const p = svc.manifest.spec.predictor;
    expect(p).toMatchObject({ minReplicas: 2, maxReplicas: 2, model: { modelFormat: { name: 'mlflow' }, storageUri: 's3://models/resnet50/7/model' } });
    expect(p.scaleMetric).toBeUndefined();
    expect(p.model.resources).toBeUndefined();
    expect(p.canaryTrafficPercent).toBeUndefined();
    expect(svc.manifest.metadata.annotations['mlserve.io/model-uri']).toBe('models:/ResNet50/Production');
    expect(svc.needsUpload).toBe(false);
  });

  it('autoscaling: min/max from autoscaling_config and a concurrency target', () => {
    const [svc] = kserveManifests(status(dep({ settings: { replicas: 1, autoscaling: { min_replicas: 1, max_replicas: 8, target_ongoing_requests: 2.5 } } })));
    requiredFields(svc.manifest);
    expect(svc.manifest.spec.predictor).toMatchObject({ minReplicas: 1, maxReplicas: 8, scaleMetric: 'concurrency', scaleTarget: 3 });
  });

  it('fractional GPUs: rounded up to whole GPUs, the fraction kept in an annotation and a comment', () => {
    const [svc] = kserveManifests(status(dep({ settings: { replicas: 3, gpus: 0.33 } })));
    expect(svc.manifest.spec.predictor.model.resources).toEqual({ limits: { 'nvidia.com/gpu': 1 } });
    expect(svc.manifest.metadata.annotations['mlserve.io/gpus-per-replica']).toBe('0.33');
    const yaml = servicesYaml([svc]);
    expect(yaml).toMatch(/# .*0\.33 of a GPU; KServe schedules whole GPUs only.*\n\s+nvidia\.com\/gpu: 1/);
    const [two] = kserveManifests(status(dep({ settings: { replicas: 1, gpus: 1.5 } })));
    expect(two.manifest.spec.predictor.model.resources?.limits['nvidia.com/gpu']).toBe(2);
  });

  it('a plain .onnx file: onnx format and a placeholder storageUri with a TODO', () => {
    const d = dep({ name: 'mlp-v1', endpoint: 'mlp', modelUri: '/tmp/x/mlp.onnx', resolved: { kind: 'path', version: '1', source: '/tmp/x/mlp.onnx' }, settings: { replicas: 1 } });
    const [svc] = kserveManifests(status(d));
    requiredFields(svc.manifest);
    expect(svc.manifest.spec.predictor.model.modelFormat.name).toBe('onnx');
    expect(svc.manifest.spec.predictor.model.storageUri).toMatch(/^s3:\/\/REPLACE-ME\//);
    expect(svc.needsUpload).toBe(true);
    expect(servicesYaml([svc])).toMatch(/# TODO: upload the Triton model repository mlp\/ \(mlp\/config.pbtxt and mlp\/1\/model.onnx from \/tmp\/x\/mlp\.onnx;.*\n\s+storageUri: s3:\/\/REPLACE-ME/);
    expect(svc.triton).toMatchObject({ folder: 'mlp', model: 'mlp' });
    expect(svc.triton!.config).toContain('platform: "onnxruntime_onnx"');
  });

  it('Triton config.pbtxt from the signature and the batching settings; the repository layout', () => {
    const sig = { inputs: [{ name: 'x', datatype: 'FP32' as const, shape: [-1, 4] }], outputs: [{ name: 'y', datatype: 'INT64' as const, shape: [-1, 3] }] };
    expect(tritonConfig({ name: 'iris', signature: sig, maxBatchSize: 16, batchWaitMs: 2, maxConcurrentBatches: 2, gpu: false })).toBe([
      'name: "iris"', 'platform: "onnxruntime_onnx"', 'max_batch_size: 16',
      'input [\n  {\n    name: "x"\n    data_type: TYPE_FP32\n    dims: [ 4 ]\n  }\n]',
      'output [\n  {\n    name: "y"\n    data_type: TYPE_INT64\n    dims: [ 3 ]\n  }\n]',
      'dynamic_batching { max_queue_delay_microseconds: 2000 }',
      'instance_group [ { count: 2 kind: KIND_CPU } ]', '',
    ].join('\n'));
    // A static first dimension: no batching, full dims; strings are TYPE_STRING; GPUs are KIND_GPU.
    const fixed = tritonConfig({ name: 'f', signature: { inputs: [{ name: 's', datatype: 'BYTES', shape: [2, -1] }], outputs: [{ name: 'o', datatype: 'FP16', shape: [2] }] }, gpu: true });
    expect(fixed).toContain('max_batch_size: 0');
    expect(fixed).toContain('data_type: TYPE_STRING\n    dims: [ 2, -1 ]');
    expect(fixed).not.toContain('dynamic_batching');
    expect(fixed).toContain('kind: KIND_GPU');
    expect(tritonConfig({ name: 'n', signature: null, gpu: false })).not.toContain('input [');
    expect(tritonLayout('iris', ['w.bin'])).toEqual({ config: 'iris/config.pbtxt', model: 'iris/1/model.onnx', weights: [{ rel: 'w.bin', to: 'iris/1/w.bin' }] });
  });

  it('a registry version behind mlflow-artifacts: a placeholder that says how to download it', () => {
    const [svc] = kserveManifests(status(dep({ resolved: { kind: 'registry', version: '3', source: 'mlflow-artifacts:/1/abc/artifacts/model' } })));
    expect(svc.manifest.spec.predictor.model.modelFormat.name).toBe('mlflow');
    expect(svc.manifest.spec.predictor.model.storageUri).toBe('s3://REPLACE-ME/mlserve/resnet50/v3');
    expect(servicesYaml([svc])).toContain('mlflow artifacts download -u models:/ResNet50/Production');
    expect(svc.manifest.metadata.annotations['mlserve.io/model-source']).toBe('mlflow-artifacts:/1/abc/artifacts/model');
  });

  it("an endpoint's canary (GET /v1/status endpoints[].canary and canaryWeight) adds canaryTrafficPercent", () => {
    const primary = dep();
    const canary = dep({ name: 'resnet50-v8', resolved: { kind: 'registry', version: '8', source: 'gs://m/resnet50/8' }, settings: { replicas: 1 } });
    const st: ExportStatus = { endpoints: [{ name: 'resnet50', primary: 'resnet50-v7', canary: 'resnet50-v8', canaryWeight: 10 }], deployments: [primary, canary] };
    const [svc, ...rest] = kserveManifests(st);
    expect(rest).toHaveLength(0);
    expect(svc.manifest.spec.predictor.canaryTrafficPercent).toBe(10);
    expect(servicesYaml([svc])).toMatch(/# the canary resnet50-v8 gets this percent \(mlserve: 10%\)/);
    // A share below 1% stays a canary (KServe takes whole percents); a dark canary is 0.
    const tiny = kserveManifests({ ...st, endpoints: [{ ...st.endpoints![0], canaryWeight: 0.5 }] })[0];
    expect(tiny.manifest.spec.predictor.canaryTrafficPercent).toBe(1);
    const dark = kserveManifests({ ...st, endpoints: [{ ...st.endpoints![0], canaryWeight: 0 }] })[0];
    expect(dark.manifest.spec.predictor.canaryTrafficPercent).toBe(0);
    expect(svc.manifest.spec.predictor.model.storageUri).toBe('gs://m/resnet50/8');
    expect(svc.manifest.metadata.annotations['mlserve.io/primary-storage-uri']).toBe('s3://models/resnet50/7/model');
  });

  it('one manifest per endpoint, names made DNS-safe, and the YAML stream parses', () => {
    const svcs = kserveManifests(status(dep(), dep({ name: 'Fraud_v2.1', endpoint: 'Fraud_v2.1' })), { namespace: 'models' });
    expect(svcs.map((s) => s.manifest.metadata.name)).toEqual(['resnet50', 'fraud-v2-1']);
    expect(svcs[1].manifest.metadata.namespace).toBe('models');
    const docs = parseAllDocuments(servicesYaml(svcs));
    expect(Array.isArray(docs)).toBe(true);
    const parsed = (docs as ReturnType<typeof parseAllDocuments> & unknown[]).map((d) => (d as { toJS(): unknown }).toJS());
    expect(parsed).toEqual(svcs.map((s) => JSON.parse(JSON.stringify(s.manifest))));
    expect(kserveName('9lives')).toBe('m-9lives');
    expect(kserveName('x'.repeat(80))).toHaveLength(63);
    expect(kserveManifests({ deployments: [] })).toEqual([]);
  });
});
