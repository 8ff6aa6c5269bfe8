// mlserve init, doctor and export kserve through the real CLI (run `npm run build` first).
import { existsSync, readFileSync, rmSync, statSync, chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { mlp } from '../../src/models/zoo.js';
import { TestDaemon } from '../helpers/daemon.js';
import { tempDir, writeOnnx } from '../helpers/models.js';

const daemons: TestDaemon[] = [];
const dirs: string[] = [];
const fresh = (env?: Record<string, string>) => {
  const d = new TestDaemon(env);
  daemons.push(d);
  return d;
};
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.cleanup()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const WRITTEN = [
  'mlserve.yaml', '.github/workflows/mlserve-bench.yml', 'grafana/mlserve-dashboard.json', 'prometheus/prometheus.yml',
  'systemd/mlserve.service', 'kserve/README.md',
];

describe('mlserve init', () => {
  it('writes the config and every template asked for, then refuses to overwrite without --force', async () => {
    const d = fresh();
    const dir = tempDir('mlserve-init-');
    dirs.push(dir);
    const r = await d.cli(['init', '--ci', 'github', '--grafana', '--kserve', '--systemd'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    for (const f of WRITTEN) {
      expect(existsSync(join(dir, f)), f).toBe(true);
      expect(r.stdout).toContain(`wrote ${f}`);
    }
    expect(parse(readFileSync(join(dir, 'mlserve.yaml'), 'utf8')).applications).toHaveLength(1);
    JSON.parse(readFileSync(join(dir, 'grafana/mlserve-dashboard.json'), 'utf8'));

    const again = await d.cli(['init', '--ci', 'github'], { cwd: dir });
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toContain('mlserve.yaml, .github/workflows/mlserve-bench.yml already exist');
    expect(again.stderr).toContain('--force');

    const forced = await d.cli(['init', '--dir', dir, '--force', '--json']);
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(forced.json.files).toEqual([{ path: join(dir, 'mlserve.yaml'), template: 'mlserve.yaml', overwritten: true }]);
  });

  it('init --json in an empty folder lists what it wrote', async () => {
    const d = fresh();
    const root = tempDir('mlserve-init-');
    dirs.push(root);
    const dir = join(root, 'nested', 'deploy');
    const r = await d.cli(['init', '--dir', dir, '--grafana', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.files.map((f: { path: string }) => f.path)).toEqual(['mlserve.yaml', 'grafana/mlserve-dashboard.json', 'prometheus/prometheus.yml'].map((f) => join(dir, f)));
  });
});

describe('mlserve doctor', () => {
  it('fails (exit 1) on an unreachable tracking server and names the URI', async () => {
    const d = fresh();
    const r = await d.cli(['doctor'], { env: { MLFLOW_TRACKING_URI: 'http://127.0.0.1:9' } });
    expect(r.exitCode, r.stdout + r.stderr).toBe(1);
    const line = r.stdout.split('\n').find((l) => l.startsWith('✗ MLflow registry'));
    expect(line).toContain('http://127.0.0.1:9');
    expect(line).toContain('fix:');
    expect(r.stdout).toMatch(/^✓ Node\.js: v\d+/m);
    expect(r.stdout).toMatch(/^✓ onnxruntime-node: .* loads; providers: cpu/m);

    const j = await d.cli(['doctor', '--json'], { env: { MLFLOW_TRACKING_URI: 'http://127.0.0.1:9' } });
    expect(j.exitCode).toBe(1);
    expect(j.json.ok).toBe(false);
    expect(j.json.checks.find((c: { id: string }) => c.id === 'mlflow')).toMatchObject({ status: 'fail' });
  });

  it('sees a running daemon and a 0755 home', async () => {
    const store = tempDir('mlserve-mlruns-');
    dirs.push(store);
    mkdirSync(join(store, 'models'));
    const d = fresh({ MLFLOW_TRACKING_URI: `file://${store}` });
    await d.start();
    const good = await d.cli(['doctor', '--json']);
    expect(good.exitCode, good.stdout).toBe(0);
    const byId = Object.fromEntries(good.json.checks.map((c: { id: string }) => [c.id, c]));
    expect(byId.daemon.detail).toContain(`running (pid ${d.pid})`);
    expect(byId.port.status).toBe('ok');
    expect(byId.mlflow.status).toBe('ok');

    chmodSync(d.home, 0o755);
    const bad = await d.cli(['doctor']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toContain(`fix: chmod 700 ${d.home}`);
    chmodSync(d.home, 0o700);
    expect(statSync(d.home).mode & 0o777).toBe(0o700);
  });
});

describe('mlserve export kserve', () => {
  it('prints an InferenceService for a deployed model, and writes files with --out', async () => {
    const d = fresh();
    await d.start();
    const onnx = writeOnnx(mlp({ seed: 5, sizes: [8, 16, 4] }), 'mlp');
    dirs.push(join(onnx, '..'));
    const dep = await d.deploy(onnx, ['--replicas', '2']);
    expect(dep.exitCode, dep.stderr).toBe(0);

    const r = await d.cli(['export', 'kserve']);
    expect(r.exitCode, r.stderr).toBe(0);
    const docs = parseAllDocuments(r.stdout) as unknown as { errors: unknown[]; toJS(): any }[];
    expect(docs).toHaveLength(1);
    expect(docs[0].errors).toEqual([]);
    const m = docs[0].toJS();
    expect(m).toMatchObject({
      apiVersion: 'serving.kserve.io/v1beta1',
      kind: 'InferenceService',
      metadata: { name: 'mlp', annotations: { 'mlserve.io/model-uri': onnx } },
      spec: { predictor: { minReplicas: 2, maxReplicas: 2, model: { modelFormat: { name: 'onnx' }, protocolVersion: 'v2' } } },
    });
    expect(m.spec.predictor.model.storageUri).toMatch(/^s3:\/\/REPLACE-ME\//);
    expect(r.stdout).toContain('# TODO: upload');
    expect(r.stderr).toContain('storageUri is a placeholder for mlp');

    const out = tempDir('mlserve-kserve-');
    dirs.push(out);
    const w = await d.cli(['export', 'kserve', '--out', out, '--json']);
    expect(w.exitCode, w.stderr).toBe(0);
    // A plain .onnx model: its Triton model repository beside the manifest, the model byte for byte.
    expect(w.json.files).toEqual([join(out, 'mlp.yaml'), join(out, 'mlp', 'mlp', 'config.pbtxt'), join(out, 'mlp', 'mlp', '1', 'model.onnx')]);
    expect(readFileSync(join(out, 'mlp', 'mlp', '1', 'model.onnx'))).toEqual(readFileSync(onnx));
    const config = readFileSync(join(out, 'mlp', 'mlp', 'config.pbtxt'), 'utf8');
    expect(config).toMatch(/^name: "mlp"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 32\n/);
    expect(config).toContain('name: "x"\n    data_type: TYPE_FP32\n    dims: [ 8 ]');
    expect(config).toContain('name: "y"\n    data_type: TYPE_FP32\n    dims: [ 4 ]');
    expect(r.stderr).toContain('pass --out DIR to also write the Triton model repository');
    expect(parse(readFileSync(join(out, 'mlp.yaml'), 'utf8'))).toEqual(m);
    expect(w.json.manifests[0]).toEqual(m);
  });
});
