import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { NAME_RE } from '../config/checker.js';
import { MlserveError } from '../errors.js';
import { homePaths } from '../home.js';
import { captureDir } from '../monitor/capture-schema.js';
import { listCaptureFiles, readCapturedRows } from '../monitor/drift/capture-files.js';
import { readReference } from '../monitor/drift/reference.js';
import { driftReport, type DriftReport } from '../monitor/drift/report.js';
import { reportHtml } from '../monitor/drift/report-html.js';
import { reportText } from '../monitor/drift/report-text.js';
import { parseWindow } from '../monitor/drift/window.js';

const NAME_RULE = "lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters";

export default class DriftCommand extends BaseCommand {
  static override description =
    "Compare an endpoint's captured inputs and predictions with a reference data set: per feature KS, Wasserstein, chi-squared and PSI, missing and out-of-range rates, and evidently's drift decision";
  static override examples = [
    '<%= config.bin %> drift demo --reference train.parquet               # the last hour',
    '<%= config.bin %> drift demo --reference train.csv --window 24h --html drift.html',
    '<%= config.bin %> drift demo --reference train.csv --json             # every figure as JSON',
  ];
  static override args = { endpoint: Args.string({ description: 'endpoint whose captured requests are compared', required: true }) };
  static override flags = {
    reference: Flags.string({ description: 'the reference data (the training set): a CSV file with a header row, or a Parquet file', required: true }),
    window: Flags.string({ description: 'how far back captured rows are taken: a number and s, m, h, d or w', default: '1h' }),
    html: Flags.string({ description: 'also write a self-contained HTML report (a histogram per feature) to this path' }),
    deployment: Flags.string({ description: "only rows served by this deployment of the endpoint (e.g. the canary's)" }),
    target: Flags.string({ description: "the reference's target or prediction column: not an input feature (compared with output.<target> if captured)" }),
  };

  async run(): Promise<DriftReport> {
    const { args, flags } = await this.parse(DriftCommand);
    if (!NAME_RE.test(args.endpoint)) throw new MlserveError('USAGE', `endpoint name '${args.endpoint}' is not valid: use ${NAME_RULE}`);
    if (flags.deployment !== undefined && !NAME_RE.test(flags.deployment)) throw new MlserveError('USAGE', `deployment name '${flags.deployment}' is not valid: use ${NAME_RULE}`);
    const windowMs = parseWindow(flags.window);
    if (windowMs === null) throw new MlserveError('USAGE', `--window ${flags.window} is not a duration: pass a number and a unit s, m, h, d or w (e.g. --window 90m, --window 7d)`);
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
}
