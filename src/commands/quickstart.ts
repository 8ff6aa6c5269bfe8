import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Flags } from '@oclif/core';
import { execa } from 'execa';
import { request } from 'undici';
import { BaseCommand } from '../cli/base.js';
import { DaemonNotRunning } from '../cli/client.js';
import type { DaemonInfo } from '../daemon/control/control-server.js';
import type { DeploymentRow } from '../daemon/control/store.js';
import { ensureHome, homePaths } from '../home.js';
import { DEMO_CLASSES, DEMO_INPUTS, DEMO_MODEL, ensureDemoRegistered } from '../models/demo.js';

const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url));

interface Prediction {
  input: number[];
  /** Probability per species (DEMO_CLASSES order). */
  scores: number[];
  class: number;
  species: string;
}

export default class Quickstart extends BaseCommand {
  static override description =
    'Build a demo model, register it in a local MLflow file store, start the daemon, deploy models:/demo/Production and send predictions';
  static override flags = {
    port: Flags.integer({ description: 'ingress port if the daemon has to be started', default: 8000 }),
  };

  async run(): Promise<{ registry: string; endpoint: string; url: string; predictions: Prediction[]; curl: string }> {
    const { flags } = await this.parse(Quickstart);
    const paths = homePaths();
    ensureHome(paths);
    const mlruns = join(paths.home, 'quickstart', 'mlruns');
    const created = ensureDemoRegistered(mlruns);
    this.say(`${created ? 'registered' : 'found'} demo model: models:/demo/1 (stage Production, alias @champion)`);
    this.say(`  MLflow file store: ${mlruns}`);

    const info = await this.daemon(flags.port);
    this.say(`daemon: pid ${info.pid}, ingress ${info.ingress.url}`);

    const status = await this.client.call<{ deployments: DeploymentRow[] }>('GET', '/v1/status');
    let dep = status.deployments.find((d) => d.endpoint === DEMO_MODEL);
    if (!dep) {
      this.progress('deploying models:/demo/Production...');
      dep = await this.client.call<DeploymentRow>('POST', '/v1/deployments', {
        source: 'models:/demo/Production',
        env: { MLFLOW_TRACKING_URI: `file://${mlruns}` },
        cwd: process.cwd(),
      });
    }
    for (let i = 0; i < 600 && dep.state === 'loading'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      dep = await this.client.call<DeploymentRow>('GET', `/v1/deployments/${dep.name}`);
    }
    if (dep.state !== 'ready') this.fail(dep.state === 'pending' ? 'PENDING' : dep.state === 'loading' ? 'NOT_READY' : 'DEPLOY_FAILED', `deployment ${dep.name} is ${dep.state}: ${dep.message ?? 'see mlserve status'}`);
    this.say(`deployed models:/demo/Production -> version ${dep.resolved.version} as ${dep.name}`);

    const url = `${info.ingress.url}/v2/models/${DEMO_MODEL}/infer`;
    const body = { inputs: [{ name: 'x', shape: [DEMO_INPUTS.length, 4], datatype: 'FP32', data: DEMO_INPUTS }] };
    const res = await request(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    const answer = (await res.body.json()) as { outputs?: { name: string; data: number[] }[]; error?: string };
    const probs = answer.outputs?.find((o) => o.name === 'y')?.data ?? answer.outputs?.[0]?.data;
    if (res.statusCode !== 200 || !probs) this.fail('INTERNAL', `prediction failed (${res.statusCode}): ${answer.error ?? JSON.stringify(answer)}`);
    const n = DEMO_CLASSES.length;
    const predictions = DEMO_INPUTS.map((input, i) => {
      const scores = probs.slice(i * n, i * n + n);
      const cls = scores.indexOf(Math.max(...scores));
      return { input, scores, class: cls, species: DEMO_CLASSES[cls] ?? String(cls) };
    });
    this.say('\npredictions (OIP v2): sepal length, sepal width, petal length, petal width (cm) -> species');
    for (const p of predictions) {
      this.say(`  [${p.input.map((v) => v.toFixed(1)).join(', ')}] -> ${p.species} (p=${p.scores[p.class].toFixed(3)}; ${DEMO_CLASSES.map((c, k) => `${c} ${p.scores[k].toFixed(3)}`).join(', ')})`);
    }
    const one = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: DEMO_INPUTS[0] }] });
    const curl = `curl -s -X POST ${url} -H 'content-type: application/json' -d '${one}'`;
    this.say(`\ntry it yourself:\n  ${curl}`);
    this.say(`  curl -s -X POST ${info.ingress.url}/${DEMO_MODEL}/invocations -H 'content-type: application/json' -d '{"inputs": [[5.1, 3.5, 1.4, 0.2]]}'`);
    this.say('\nnext: mlserve status | mlserve logs demo-v1 | mlserve undeploy demo | mlserve daemon stop');
    return { registry: mlruns, endpoint: DEMO_MODEL, url, predictions, curl };
  }

  /** The running daemon, or a new one started as `mlserve daemon start` would. */
  private async daemon(port: number): Promise<DaemonInfo> {
    try {
      return await this.client.call<DaemonInfo>('GET', '/v1/health');
    } catch (err) {
      if (!(err instanceof DaemonNotRunning)) throw err;
    }
    this.progress('starting the mlserve daemon...');
    const r = await execa(process.execPath, [BIN, 'daemon', 'start', '--port', String(port), '--json'], { reject: false });
    if (r.exitCode !== 0) {
      let msg = String(r.stderr).trim();
      try {
        msg = JSON.parse(String(r.stdout)).error ?? msg;
      } catch { /* not JSON */ }
      this.fail('DAEMON_FAILED', `could not start the daemon: ${msg}`);
    }
    return JSON.parse(String(r.stdout)) as DaemonInfo;
  }
}
