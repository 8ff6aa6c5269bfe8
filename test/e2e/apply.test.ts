// Declarative config against a real daemon through the built CLI: a dry run changes nothing (exit
// 3 with changes, 0 without, 2 when invalid or infeasible), apply creates endpoints that serve, a
// second apply plans nothing, num_replicas changes in place, another setting rolls out a new
// revision, a missing endpoint is left alone without --prune, `mlserve config` output (canary
// included) re-applies as a no-op, and a broken file exits 2 with every error's line and column.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mlp } from '../../src/models/zoo.js';
import { TestDaemon } from '../helpers/daemon.js';
import { tempDir, writeOnnx } from '../helpers/models.js';

let d: TestDaemon;
let dir: string;
let file: string;
/** The CLI runs from elsewhere: model paths in the file resolve against the file's folder. */
const cli = (args: string[], input?: string) => d.cli(args, { cwd: tmpdir(), input });
const status = async () => (await cli(['status', '--json'])).json;
const infer = (endpoint: string, cols: number) =>
  d.http('POST', `/v2/models/${endpoint}/infer`, { inputs: [{ name: 'x', shape: [1, cols], datatype: 'FP32', data: Array.from({ length: cols }, (_, i) => i) }] });

const config = (alphaReplicas: number, withBeta = true, betaBatch = 8) => `# mlserve.yaml
applications:
  - name: alpha
    deployments:
      - model: ./models/alpha.onnx
        num_replicas: ${alphaReplicas}
${withBeta ? `  - name: beta
    deployments:
      - name: beta-main
        model: models/beta.onnx
        max_batch_size: ${betaBatch}
        batch_wait_timeout_s: 0.002
        health_check_period_s: 5
` : ''}`;

beforeAll(async () => {
  d = new TestDaemon();
  await d.start();
  dir = tempDir('mlserve-apply-');
  mkdirSync(join(dir, 'models'));
  copyFileSync(writeOnnx(mlp({ seed: 11, sizes: [4, 8, 2] }), 'alpha'), join(dir, 'models', 'alpha.onnx'));
  copyFileSync(writeOnnx(mlp({ seed: 12, sizes: [3, 6, 5] }), 'beta'), join(dir, 'models', 'beta.onnx'));
  file = join(dir, 'mlserve.yaml');
  writeFileSync(file, config(1));
});
afterAll(async () => {
  await d.cleanup();
});

describe('mlserve apply', () => {
  it('--dry-run shows two creates, changes nothing and exits 3 (changes planned)', async () => {
    const human = await cli(['apply', '-f', file, '--dry-run']);
    expect(human.exitCode, human.stderr).toBe(3);
    expect(human.stdout).toMatch(/ACTION\s+ENDPOINT\s+DEPLOYMENT\s+CHANGE/);
    expect(human.stdout).toMatch(/create\s+alpha\s+\(default name\)\s+new endpoint: model .*\/models\/alpha\.onnx, num_replicas 1/);
    expect(human.stdout).toMatch(/create\s+beta\s+beta-main\s+new endpoint: .*max_batch_size 8, batch_wait_ms 2/);
    expect(human.stdout).toContain('dry run: 2 changes planned, nothing applied');
    const r = await cli(['apply', '-f', file, '--dry-run', '--json']);
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.json.plan.map((a: any) => [a.action, a.endpoint])).toEqual([['create', 'alpha'], ['create', 'beta']]);
    expect(r.json.applied).toBe(false);
    expect((await status()).deployments).toEqual([]);
  });

  it('--dry-run checks the plan can be carried out: a missing model file and a GPU the daemon lacks exit 2', async () => {
    const bad = join(dir, 'infeasible.yaml');
    writeFileSync(bad, 'applications:\n  - name: gone\n    deployments:\n      - model: ./models/nope.onnx\n        gpus: 1\n');
    const r = await cli(['apply', '-f', bad, '--dry-run']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('the plan cannot be carried out');
    expect(r.stderr).toMatch(/gone: asks for 1 GPU per replica, but this machine has no GPU/);
    expect(r.stderr).toMatch(/gone: model .*nope\.onnx: no such file or directory/);
  });

  it('creates both endpoints, which serve', async () => {
    const r = await cli(['apply', '-f', file, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.applied).toBe(true);
    expect(r.json.touched).toEqual(['alpha-v1', 'beta-main']);
    const s = await status();
    expect(s.deployments.map((x: any) => [x.endpoint, x.name, x.state])).toEqual([['alpha', 'alpha-v1', 'ready'], ['beta', 'beta-main', 'ready']]);
    expect(s.deployments[1].settings).toMatchObject({ replicas: 1, maxBatchSize: 8, batchWaitMs: 2, healthCheckPeriodS: 5 });
    expect((await infer('alpha', 4)).json.outputs[0].shape).toEqual([1, 2]);
    expect((await infer('beta', 3)).json.outputs[0].shape).toEqual([1, 5]);
  });

  it('applying the same file again plans nothing (dry run exits 0)', async () => {
    const human = await cli(['apply', '-f', file]);
    expect(human.exitCode, human.stderr).toBe(0);
    expect(human.stdout).toContain('nothing to change');
    const r = await cli(['apply', '-f', file, '--json']);
    expect(r.json).toEqual({ plan: [], problems: [], applied: false, touched: [] });
    expect((await cli(['apply', '-f', file, '--dry-run'])).exitCode).toBe(0);
  });

  it('a new num_replicas is a scale in place: the running replica keeps running', async () => {
    writeFileSync(file, config(2));
    const before = (await status()).deployments[0];
    const dry = await cli(['apply', '-f', file, '--dry-run', '--json']);
    expect(dry.json.plan.map((a: any) => [a.action, a.endpoint, a.deployment, a.changes])).toEqual([['scale', 'alpha', 'alpha-v1', ['num_replicas 1 -> 2']]]);
    const r = await cli(['apply', '-f', file]);
    expect(r.exitCode, r.stderr).toBe(0);
    const after = (await status()).deployments[0];
    expect([after.name, after.revision]).toEqual(['alpha-v1', before.revision]);
    expect(after.replicas.filter((x: any) => x.state === 'ready').length).toBe(2);
    expect(after.replicas[0].pid).toBe(before.replicas[0].pid);
    expect((await cli(['apply', '-f', file, '--json'])).json.plan).toEqual([]);
  });

  it('another setting rolls out a new revision of the same deployment (blue-green)', async () => {
    writeFileSync(file, config(2, true, 4));
    const before = (await status()).deployments.find((x: any) => x.endpoint === 'beta');
    const r = await cli(['apply', '-f', file]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/update\s+beta\s+beta-main\s+max_batch_size 8 -> 4/);
    const beta = (await status()).deployments.find((x: any) => x.endpoint === 'beta');
    expect([beta.name, beta.state, beta.settings.maxBatchSize]).toEqual(['beta-main', 'ready', 4]);
    expect(beta.revision).not.toBe(before.revision);
    expect(beta.revisions).toEqual([{ revision: beta.revision, role: 'serving', phase: 'ready' }]);
    expect(beta.replicas.map((x: any) => x.pid)).not.toContain(before.replicas[0].pid);
    expect((await infer('beta', 3)).status).toBe(200);
    const ev = await cli(['events', 'beta-main', '--json']);
    expect(ev.json.map((e: any) => e.kind)).toEqual(expect.arrayContaining(['updated', 'starting', 'switched']));
    expect((await cli(['apply', '-f', file, '--json'])).json.plan).toEqual([]);
  });

  it('an endpoint missing from the file is listed and left alone; --prune deletes it', async () => {
    writeFileSync(file, config(2, false));
    const r = await cli(['apply', '-f', file, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.plan.map((a: any) => [a.action, a.endpoint, a.deployment])).toEqual([['unmanaged', 'beta', 'beta-main']]);
    expect((await infer('beta', 3)).status).toBe(200);
    expect((await cli(['apply', '-f', file, '--dry-run'])).exitCode).toBe(0);
    const p = await cli(['apply', '-f', file, '--prune', '--json']);
    expect(p.json.plan.map((a: any) => [a.action, a.endpoint, a.deployment])).toEqual([['delete', 'beta', 'beta-main']]);
    expect((await status()).deployments.map((x: any) => x.endpoint)).toEqual(['alpha']);
    expect((await infer('beta', 3)).status).toBe(404);
    expect((await infer('alpha', 4)).status).toBe(200);
  });

  it('mlserve config | mlserve apply -f - --dry-run plans nothing, with a canary at 25%', async () => {
    writeFileSync(file, config(1));
    expect((await cli(['apply', '-f', file])).exitCode).toBe(0);
    const canary = await cli(['deploy', join(dir, 'models', 'alpha.onnx'), '--endpoint', 'alpha', '--name', 'alpha-c', '--canary', '25%', '--threads', '2', '--json']);
    expect(canary.exitCode, canary.stderr).toBe(0);
    const printed = await cli(['config']);
    expect(printed.exitCode, printed.stderr).toBe(0);
    expect(printed.stdout).toMatch(/^# The desired state of the mlserve daemon in /);
    expect(printed.stdout).toContain('name: beta-main');
    expect(printed.stdout).toMatch(/canary:\n\s+name: alpha-c\n[^]*weight: 25/);
    const dry = await cli(['apply', '-f', '-', '--dry-run'], printed.stdout);
    expect(dry.exitCode, `${dry.stdout}\n${dry.stderr}`).toBe(0);
    expect(dry.stdout).toContain('nothing to change');
    // The same file with the canary's weight moved: one change, exit 3; applied, canary status follows.
    const moved = printed.stdout.replace('weight: 25', 'weight: 40');
    expect((await cli(['apply', '-f', '-', '--dry-run'], moved)).exitCode).toBe(3);
    expect((await cli(['apply', '-f', '-'], moved)).exitCode).toBe(0);
    expect((await cli(['canary', 'status', '--json'])).json[0].weight).toBe(40);
    // Without the canary: it is removed.
    const none = printed.stdout.replace(/ {4}canary:\n( {6}.*\n)+/, '');
    const r = await cli(['apply', '-f', '-', '--json'], none);
    expect(r.json.plan.map((a: any) => [a.action, a.deployment])).toEqual([['canary', 'alpha-c']]);
    expect((await status()).endpoints.find((e: any) => e.name === 'alpha').canary).toBe(null);
    const json = await cli(['config', '--json']);
    expect(json.json.applications.map((a: any) => [a.name, a.deployments[0].name, a.deployments[0].num_replicas])).toEqual([['alpha', 'alpha-v1', 1], ['beta', 'beta-main', 1]]);
  });

  it('a file with errors exits 2 with each line:column and changes nothing', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, `applications:
  - name: alpha
    deployments:
      - model: ./models/alpha.onnx
        num_replicas: two
        canary_weight: 20
  - name: alpha
    deployments: [{model: ./models/beta.onnx, replicas: 2}]
`);
    const r = await cli(['apply', '-f', bad]);
    expect(r.exitCode).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines.slice(0, 4)).toEqual([
      `${bad}:5:9: num_replicas must be a whole number from 1 to 64 (got "two")`,
      `${bad}:6:9: canary_weight 20: a canary is the application's canary: mapping (model:, weight:, shadow:), beside deployments:`,
      `${bad}:7:5: duplicate endpoint 'alpha' (first at line 2); each application name must be unique`,
      expect.stringMatching(new RegExp(`^${bad}:8:47: unknown key "replicas" in a deployment; accepted: name, model, runtime, env_manager, num_replicas`)),
    ]);
    expect(lines[4]).toBe(`Error: ${bad} has 4 errors; nothing was applied`);
    const j = await cli(['apply', '-f', bad, '--json']);
    expect(j.exitCode).toBe(2);
    expect(j.json.errors).toHaveLength(4);
    expect((await status()).deployments.map((x: any) => x.name)).toEqual(['alpha-v1', 'beta-main']);
    const missing = await cli(['apply', '-f', join(dir, 'nope.yaml')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('cannot read');
  });
});
