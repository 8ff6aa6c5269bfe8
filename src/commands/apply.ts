import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { ControlError, DaemonNotRunning } from '../cli/client.js';
import { table } from '../cli/format.js';
import { ProgressBar } from '../cli/progress.js';
import { describeChange, plan, type CurrentDeployment, type PlanAction } from '../config/plan.js';
import { formatIssues, parseConfig } from '../config/schema.js';
import type { DeploymentRow } from '../daemon/control/store.js';
import { MlserveError } from '../errors.js';
import { MLFLOW_CLIENT_ENV } from '../mlflow/rest-config.js';

export interface AppliedAction {
  action: PlanAction['action'];
  endpoint: string;
  /** The deployment that now runs (create, update, scale) or was removed (delete). */
  deployment: string | null;
  changes: string[];
}

export interface ApplyResult {
  plan: PlanAction[];
  applied: AppliedAction[];
}

type StatusDeployment = CurrentDeployment & { state: string; message: string | null };
const enc = encodeURIComponent;

export default class Apply extends BaseCommand {
  static override description =
    'Make the daemon match a config file (Ray Serve style YAML: applications -> deployments): create, replace, scale and remove deployments';
  static override examples = [
    '<%= config.bin %> apply -f mlserve.yaml --dry-run',
    '<%= config.bin %> apply -f mlserve.yaml',
    '<%= config.bin %> config > mlserve.yaml   # the running state, as a file to edit and apply',
  ];
  static override flags = {
    file: Flags.string({ char: 'f', description: "config file (YAML), or '-' for stdin; relative model paths are relative to its folder", required: true }),
    'dry-run': Flags.boolean({ description: 'print the plan and change nothing' }),
    wait: Flags.boolean({ description: 'wait until created, replaced and scaled deployments are ready', default: true, allowNo: true }),
    timeout: Flags.integer({ description: 'seconds to wait for readiness', default: 120, min: 1 }),
  };
  /** Whether the action being executed has removed its old deployment already. */
  private removed = false;

  async run(): Promise<ApplyResult> {
    const { flags } = await this.parse(Apply);
    const stdin = flags.file === '-';
    let text = '';
    try {
      text = readFileSync(stdin ? 0 : flags.file, 'utf8');
    } catch (err) {
      this.fail(`cannot read ${flags.file}: ${(err as Error).message}`, 2);
    }
    const label = stdin ? '<stdin>' : flags.file;
    const parsed = parseConfig(text, { baseDir: stdin ? process.cwd() : dirname(resolve(flags.file)) });
    if (parsed.issues.length > 0) {
      const lines = formatIssues(label, parsed.issues);
      const summary = `${label} has ${lines.length} error${lines.length === 1 ? '' : 's'}; nothing was applied`;
      if (this.jsonEnabled()) this.logJson({ error: summary, errors: lines });
      else process.stderr.write(`${lines.join('\n')}\nError: ${summary}\n`);
      this.exit(2);
    }

    const status = await this.client.call<{ deployments: StatusDeployment[] }>('GET', '/v1/status');
    const actions = plan(parsed.desired, status.deployments);
    if (actions.length === 0) {
      this.say(`nothing to change: the daemon matches ${label}`);
      return { plan: actions, applied: [] };
    }
    const width = process.stdout.isTTY ? Math.max(80, process.stdout.columns ?? 80) : 10_000;
    this.say(table(['ACTION', 'ENDPOINT', 'DEPLOYMENT', 'CHANGE'], actions.map((a) => [a.action, a.endpoint, a.deployment ?? '(default name)', describeChange(a)]), width));
    if (flags['dry-run']) {
      this.say(`\ndry run: ${actions.length} change${actions.length === 1 ? '' : 's'} planned, nothing applied (run without --dry-run to apply)`);
      return { plan: actions, applied: [] };
    }

    const applied: AppliedAction[] = [];
    const touched: string[] = [];
    for (const a of actions) {
      try {
        const name = await this.execute(a);
        if (a.action !== 'delete' && name) touched.push(name);
        applied.push({ action: a.action, endpoint: a.endpoint, deployment: name, changes: a.changes });
      } catch (err) {
        if (!(err instanceof ControlError || err instanceof DaemonNotRunning || err instanceof MlserveError)) throw err;
        const gone = a.action === 'update' && this.removed ? ` (its old deployment ${a.deployment} was already removed)` : '';
        const msg = `${a.action} ${a.endpoint} failed: ${err.message}${gone}; ${applied.length} of ${actions.length} change(s) applied before it. Fix and run mlserve apply again`;
        if (this.jsonEnabled()) {
          this.logJson({ error: msg, plan: actions, applied });
          this.exit(1);
        }
        this.fail(msg);
      }
    }
    if (flags.wait && touched.length > 0) await this.waitReady(touched, flags.timeout);
    this.say(`applied ${applied.length} change${applied.length === 1 ? '' : 's'} from ${label}`);
    return { plan: actions, applied };
  }


  /** Carry out one action through the control API; returns the deployment it leaves running. */
  private async execute(a: PlanAction): Promise<string | null> {
    this.removed = false;
    if (a.undeploy !== undefined) {
      this.progress(a.action === 'delete' ? `removing ${a.undeploy} (${describeChange(a)})` : `replacing ${a.deployment}: ${describeChange(a)}`);
      const res = await this.client.call<{ undeployed: string[] }>('DELETE', `/v1/deployments/${enc(a.undeploy)}`);
      this.removed = true;
      if (a.action === 'delete') return res.undeployed.join(', ');
    }
    if (a.deploy) {
      const env: Record<string, string> = {};
      for (const k of MLFLOW_CLIENT_ENV) if (process.env[k]) env[k] = process.env[k]!;
      this.progress(`deploying ${a.deploy.source} on endpoint ${a.endpoint}...`);
      const bar = new ProgressBar(process.stderr, this.jsonEnabled());
      const row = await this.client
        .ndjson<DeploymentRow>('/v1/deployments?progress=1', { ...a.deploy, env, cwd: process.cwd() }, (line) => {
          if (line.progress) bar.update(line.progress as Parameters<ProgressBar['update']>[0]);
        })
        .finally(() => bar.done());
      this.progress(`  ${row.name}: starting ${row.settings.replicas} replica(s)`);
      return row.name;
    }
    if (a.scale && a.deployment) {
      this.progress(`scaling ${a.deployment}: ${describeChange(a)}`);
      const row = await this.client.call<DeploymentRow>('POST', `/v1/deployments/${enc(a.deployment)}/scale`, a.scale);
      return row.name;
    }
    return a.deployment;
  }

  /** Poll until every deployment touched is ready (as mlserve deploy does); fail on failed/pending. */
  private async waitReady(names: string[], timeoutS: number): Promise<void> {
    const deadline = Date.now() + timeoutS * 1000;
    let rows: StatusDeployment[] = [];
    const waiting = () => rows.filter((r) => r.state === 'loading' || r.state === 'pending');
    for (;;) {
      const s = await this.client.call<{ deployments: StatusDeployment[] }>('GET', '/v1/status');
      rows = s.deployments.filter((d) => names.includes(d.name));
      if (waiting().length === 0 || Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, 150));
    }
    for (const r of rows) this.progress(`  ${r.name}: ${r.state}${r.message ? ` (${r.message})` : ''}`);
    const failed = rows.filter((r) => r.state === 'failed');
    if (failed.length) {
      this.fail(`${failed.map((r) => `deployment ${r.name} failed: ${r.message}`).join('; ')}\nSee: mlserve logs ${failed[0].name}`);
    }
    const pending = rows.filter((r) => r.state === 'pending');
    if (pending.length) this.fail(`${pending.map((r) => `deployment ${r.name} is pending: ${r.message}`).join('; ')}; it starts as soon as a GPU has room`);
    if (waiting().length) this.fail(`${waiting().map((r) => r.name).join(', ')} not ready after ${timeoutS}s; see mlserve status`);
  }
}
