import { readFileSync } from 'node:fs';
import { text as readAll } from 'node:stream/consumers';
import { dirname, resolve } from 'node:path';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { table } from '../cli/format.js';
import { ProgressBar } from '../cli/progress.js';
import { describeChange, type PlanAction } from '../config/plan.js';
import { formatIssues, parseConfig } from '../config/schema.js';
import type { ApplyResult } from '../daemon/control/apply.js';
import { MLFLOW_CLIENT_ENV } from '../mlflow/rest-config.js';

type StatusDeployment = {
  name: string; endpoint: string; state: string; message: string | null; revision: string;
  revisions: { revision: string; role: string; phase: string }[]; failure: { revision: string; message: string | null } | null;
};
type StatusEndpoint = { name: string; nextPrimary?: string | null };

/** Exit code of a dry run whose plan has changes (0: nothing would change; 2: the file is invalid or cannot be applied). */
export const EXIT_CHANGES = 3;

export default class Apply extends BaseCommand {
  static override description =
    'Make the daemon match a config file (Ray Serve style YAML: applications -> a deployment, a canary, a rollout policy); changes roll out without downtime';
  static override examples = [
    '<%= config.bin %> apply -f mlserve.yaml --dry-run   # exit 0: nothing to change, 3: changes, 2: invalid',
    '<%= config.bin %> apply -f mlserve.yaml',
    '<%= config.bin %> apply -f mlserve.yaml --prune     # also delete endpoints missing from the file',
    '<%= config.bin %> config | <%= config.bin %> apply -f - --dry-run',
  ];
  static override flags = {
    file: Flags.string({ char: 'f', description: "config file (YAML), or '-' for stdin; relative model paths are relative to its folder", required: true }),
    'dry-run': Flags.boolean({ description: 'print the plan and check it can be carried out (files, models, GPUs); change nothing' }),
    prune: Flags.boolean({ description: 'delete endpoints that are not in the file (without it they are listed and left alone)' }),
    wait: Flags.boolean({ description: 'wait until every change has rolled out (new revisions serving, old ones drained)', default: true, allowNo: true }),
    timeout: Flags.integer({ description: 'seconds to wait for the rollout', default: 300, min: 1 }),
  };

  async run(): Promise<ApplyResult> {
    const { flags } = await this.parse(Apply);
    const stdin = flags.file === '-';
    let text = '';
    try {
      // stdin as a stream: a pipe from another process may be non-blocking (readFileSync(0) then fails with EAGAIN).
      text = stdin ? await readAll(process.stdin) : readFileSync(flags.file, 'utf8');
    } catch (err) {
      this.fail('INVALID_CONFIG', `cannot read ${flags.file}: ${(err as Error).message}`);
    }
    const label = stdin ? '<stdin>' : flags.file;
    const parsed = parseConfig(text, { baseDir: stdin ? process.cwd() : dirname(resolve(flags.file)) });
    if (parsed.issues.length > 0) {
      const lines = formatIssues(label, parsed.issues);
      const summary = `${label} has ${lines.length} error${lines.length === 1 ? '' : 's'}; nothing was applied`;
      if (this.jsonEnabled()) this.logJson({ error: summary, code: 'INVALID_CONFIG', errors: lines });
      else process.stderr.write(`${lines.join('\n')}\nError: ${summary}\n`);
      this.exit(2);
    }

    const env: Record<string, string> = {};
    for (const k of MLFLOW_CLIENT_ENV) if (process.env[k]) env[k] = process.env[k]!;
    const bar = new ProgressBar(process.stderr, this.jsonEnabled());
    const result = await this.client
      .ndjson<ApplyResult>('/v1/apply?progress=1', { endpoints: parsed.desired, prune: flags.prune, dryRun: flags['dry-run'], env, cwd: process.cwd() }, (line) => {
        if (line.progress) bar.update(line.progress as Parameters<ProgressBar['update']>[0]);
      })
      .finally(() => bar.done());
    const changes = result.plan.filter((a) => a.action !== 'unmanaged');
    this.printPlan(result.plan);
    if (flags['dry-run']) {
      if (result.problems.length > 0) {
        const msg = `the plan cannot be carried out:\n  ${result.problems.join('\n  ')}`;
        if (this.jsonEnabled()) this.logJson({ ...result, error: msg, code: 'INVALID_CONFIG' });
        else process.stderr.write(`Error: ${msg}\n`);
        this.exit(2);
      }
      if (changes.length === 0) {
        this.say(`nothing to change: the daemon matches ${label}`);
        return result;
      }
      this.say(`\ndry run: ${changes.length} change${changes.length === 1 ? '' : 's'} planned, nothing applied (run without --dry-run to apply)`);
      if (this.jsonEnabled()) this.logJson(result);
      this.exit(EXIT_CHANGES);
    }
    if (changes.length === 0) {
      this.say(`nothing to change: the daemon matches ${label}`);
      return result;
    }
    if (flags.wait) await this.waitConverged(result.touched, flags.timeout);
    this.say(`applied ${changes.length} change${changes.length === 1 ? '' : 's'} from ${label}`);
    return result;
  }

  private printPlan(actions: PlanAction[]): void {
    if (actions.length === 0) return;
    const width = process.stdout.isTTY ? Math.max(80, process.stdout.columns ?? 80) : 10_000;
    this.say(table(['ACTION', 'ENDPOINT', 'DEPLOYMENT', 'CHANGE'], actions.map((a) => [a.action, a.endpoint, a.deployment ?? '(default name)', describeChange(a)]), width));
  }

  /**
   * Wait until the daemon converged on what was applied: every touched deployment ready, no new
   * revision still coming up, no blue-green replacement pending. A failed one fails the command.
   */
  private async waitConverged(touched: string[], timeoutS: number): Promise<void> {
    const deadline = Date.now() + timeoutS * 1000;
    let rows: StatusDeployment[] = [];
    let pendingSwitch: StatusEndpoint[] = [];
    // Converged: the desired revision serves and is ready.
    const busy = () => rows.filter((r) => r.state !== 'ready' || !r.revisions.some((v) => v.role === 'serving' && v.revision === r.revision) || r.revisions.length > 1);
    const broken = () => rows.filter((r) => r.failure && r.failure.revision === r.revision);
    for (;;) {
      const s = await this.client.call<{ deployments: StatusDeployment[]; endpoints: StatusEndpoint[] }>('GET', '/v1/status');
      rows = s.deployments.filter((d) => touched.includes(d.name));
      pendingSwitch = s.endpoints.filter((e) => e.nextPrimary && touched.includes(e.nextPrimary));
      const gone = touched.filter((t) => !s.deployments.some((d) => d.name === t));
      if (gone.length) this.fail('DEPLOY_FAILED', `${gone.join(', ')} did not become ready and was removed; see mlserve events`);
      if (broken().length) {
        const b = broken()[0];
        this.fail('DEPLOY_FAILED', `${b.name}: its new revision failed to start (${b.failure!.message ?? 'see mlserve events'}); ${b.state === 'ready' ? 'the previous revision keeps serving' : 'nothing serves it'}. See: mlserve logs ${b.name}`);
      }
      if ((busy().length === 0 && pendingSwitch.length === 0) || Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, 150));
    }
    for (const r of rows) this.progress(`  ${r.name}: ${r.state}${r.message ? ` (${r.message})` : ''}`);
    const failed = rows.filter((r) => r.state === 'failed');
    if (failed.length) this.fail('DEPLOY_FAILED', `${failed.map((r) => `deployment ${r.name} failed: ${r.message}`).join('; ')}\nSee: mlserve logs ${failed[0].name}`);
    const pending = rows.filter((r) => r.state === 'pending');
    if (pending.length) this.fail('PENDING', `${pending.map((r) => `deployment ${r.name} is pending: ${r.message}`).join('; ')}; it starts as soon as a GPU has room`);
    if (busy().length || pendingSwitch.length) this.fail('NOT_READY', `${[...busy().map((r) => r.name), ...pendingSwitch.map((e) => e.name)].join(', ')} not rolled out after ${timeoutS}s; see mlserve status`);
  }
}
