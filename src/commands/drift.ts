import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { NAME_RE, NAME_TEXT as NAME_RULE } from '../config/checker.js';
import { MlserveError } from '../errors.js';
import { homePaths } from '../home.js';
import { captureDir } from '../monitor/capture-schema.js';
import { listCaptureFiles, readCapturedRows } from '../monitor/drift/capture-files.js';
import { readReference } from '../monitor/drift/reference.js';
import { driftReport, type DriftReport } from '../monitor/drift/report.js';
import { reportHtml } from '../monitor/drift/report-html.js';
import { reportText } from '../monitor/drift/report-text.js';
import { parseWindow } from '../monitor/drift/window.js';
import type { DriftRun, DriftSchedule } from '../daemon/monitor/drift-schedule.js';


export default class DriftCommand extends BaseCommand {
  static override description =
    "Compare an endpoint's captured inputs and predictions with a reference data set: per feature KS, Wasserstein, chi-squared and PSI, missing and out-of-range rates, and evidently's drift decision";
  static override examples = [
    '<%= config.bin %> drift demo --reference train.parquet               # the last hour',
    '<%= config.bin %> drift demo --reference train.csv --window 24h --html drift.html',
    '<%= config.bin %> drift demo --reference train.csv --json             # every figure as JSON',
    '<%= config.bin %> drift demo --reference train.csv --every 10m        # in the daemon: gauges on /metrics',
    '<%= config.bin %> drift demo --every off                               # stop that',
    '<%= config.bin %> drift --list                                         # the schedules and their last runs',
  ];
  static override args = { endpoint: Args.string({ description: 'endpoint whose captured requests are compared' }) };
  static override flags = {
    reference: Flags.string({ description: 'the reference data (the training set): a CSV file with a header row, or a Parquet file' }),
    every: Flags.string({ description: "run the report in the daemon this often (10m, 1h) and export mlserve_feature_drift gauges; 'off' stops it" }),
    list: Flags.boolean({ description: 'list the scheduled drift reports and their last runs', default: false }),
    window: Flags.string({ description: 'how far back captured rows are taken: a number and s, m, h, d or w', default: '1h' }),
    html: Flags.string({ description: 'also write a self-contained HTML report (a histogram per feature) to this path' }),
    deployment: Flags.string({ description: "only rows served by this deployment of the endpoint (e.g. the canary's)" }),
    target: Flags.string({ description: "the reference's target or prediction column: not an input feature (compared with output.<target> if captured)" }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(DriftCommand);
    if (flags.list) return this.list();
    if (args.endpoint === undefined) throw new MlserveError('USAGE', 'drift needs an endpoint (or --list); e.g. mlserve drift demo --reference train.csv');
    if (!NAME_RE.test(args.endpoint)) throw new MlserveError('USAGE', `endpoint name '${args.endpoint}' is not valid: use ${NAME_RULE}`);
    if (flags.deployment !== undefined && !NAME_RE.test(flags.deployment)) throw new MlserveError('USAGE', `deployment name '${flags.deployment}' is not valid: use ${NAME_RULE}`);
    const windowMs = parseWindow(flags.window);
    if (windowMs === null) throw new MlserveError('USAGE', `--window ${flags.window} is not a duration: pass a number and a unit s, m, h, d or w (e.g. --window 90m, --window 7d)`);
    if (flags.every === 'off') return this.unschedule(args.endpoint);
    if (flags.reference === undefined) throw new MlserveError('USAGE', 'drift needs --reference, the training data as CSV or Parquet');
    if (flags.every !== undefined) return this.schedule(args.endpoint, { reference: resolve(flags.reference), window: flags.window, every: flags.every, target: flags.target });
    const reference = await readReference(flags.reference);
    const home = homePaths().home;
    const to = Date.now();
    const from = to - windowMs;
    const captured = await readCapturedRows({ home, endpoint: args.endpoint, from, to, deployment: flags.deployment });
    if (captured.table.rows === 0) {
      const any = (await listCaptureFiles(home, args.endpoint)).length > 0;
      const where = `${captureDir(home, args.endpoint)}${flags.deployment ? ` for deployment ${flags.deployment}` : ''}`;
      throw new MlserveError(
        'NOT_FOUND',
        any
          ? `no captured requests of ${args.endpoint} in the last ${flags.window} (${where}): pass a longer --window, or send traffic`
          : `no captured requests of ${args.endpoint} (${where} has no capture files): turn capture on with mlserve capture on ${args.endpoint}, send traffic, then run mlserve drift again`,
      );
    }
    const report = driftReport(reference, captured.table, {
      endpoint: args.endpoint,
      deployment: flags.deployment,
      referenceName: flags.reference,
      target: flags.target,
      window: { from: new Date(from).toISOString(), to: new Date(to).toISOString() },
      generatedAt: new Date(to).toISOString(),
    });
    if (flags.html) {
      const path = resolve(flags.html);
      try {
        writeFileSync(path, reportHtml(report));
      } catch (err) {
        throw new MlserveError('STORAGE', `cannot write --html ${path}: ${(err as Error).message}`);
      }
      this.progress(`HTML report written to ${path}`);
    }
    this.say(reportText(report));
    return report;
  }

  /** --every: the daemon runs the report on a schedule; the first run is now, and its outcome is printed. */
  private async schedule(endpoint: string, body: Record<string, unknown>) {
    const r = await this.client.call<{ schedule: DriftSchedule; first: DriftRun }>('POST', `/v1/drift/${encodeURIComponent(endpoint)}`, body);
    const f = r.first;
    this.say(`${endpoint}: drift report every ${span(r.schedule.everyMs)} over the last ${span(r.schedule.windowMs)}, gauges mlserve_feature_drift on /metrics`);
    this.say(f.ok ? `first run: ${f.drifted} of ${f.columns} columns drifted${f.datasetDrift ? ' (dataset drift)' : ''}, ${f.rows!.current} captured rows` : `first run failed: ${f.error}`);
    return r;
  }

  private async unschedule(endpoint: string) {
    const r = await this.client.call<{ endpoint: string; stopped: boolean }>('DELETE', `/v1/drift/${encodeURIComponent(endpoint)}`);
    this.say(`${endpoint}: scheduled drift reports stopped`);
    return r;
  }

  private async list() {
    const r = await this.client.call<{ schedules: DriftSchedule[]; runs: DriftRun[] }>('GET', '/v1/drift');
    if (r.schedules.length === 0) this.say('no scheduled drift reports; add one with mlserve drift <endpoint> --reference train.csv --every 10m');
    for (const s of r.schedules) {
      const run = r.runs.find((x) => x.endpoint === s.endpoint);
      const last = !run || run.at === 0 ? 'not run yet' : run.ok ? `${run.drifted}/${run.columns} drifted${run.datasetDrift ? ' (dataset drift)' : ''} at ${new Date(run.at).toISOString().slice(11, 19)}` : `failed: ${run.error}`;
      this.say(`${s.endpoint}  every ${span(s.everyMs)}  window ${span(s.windowMs)}  ${s.reference}  ${last}`);
    }
    return r;
  }
}

/** 600000 -> "10m". */
function span(ms: number): string {
  return ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`;
}
