import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';

/** templates/ at the package root (from dist/commands or src/commands alike). */
export const TEMPLATES = fileURLToPath(new URL('../../templates', import.meta.url));

/** Template (under templates/) -> where init writes it (under --dir), by the flag that asks for it. */
export const TEMPLATE_FILES = {
  config: [['mlserve.yaml', 'mlserve.yaml']],
  github: [['github/mlserve-bench.yml', '.github/workflows/mlserve-bench.yml']],
  grafana: [['grafana/mlserve-dashboard.json', 'grafana/mlserve-dashboard.json'], ['prometheus/prometheus.yml', 'prometheus/prometheus.yml']],
  systemd: [['systemd/mlserve.service', 'systemd/mlserve.service']],
  kserve: [['kserve/README.md', 'kserve/README.md']],
} as const satisfies Record<string, ReadonlyArray<readonly [string, string]>>;

/** A path as the operator typed it: relative to the working directory when inside it. */
const show = (p: string): string => {
  const r = relative(process.cwd(), p);
  return r && !r.startsWith('..') ? r : p;
};

type Written = { path: string; template: string; overwritten: boolean };
type Result = { dir: string; files: Written[] };

const NEXT: Record<keyof typeof TEMPLATE_FILES, string> = {
  config: 'edit mlserve.yaml, then: mlserve daemon start && mlserve apply -f mlserve.yaml',
  github: 'commit .github/workflows/mlserve-bench.yml (set the MLFLOW_TRACKING_URI secret for models:/ URIs)',
  grafana: 'prometheus --config.file=prometheus/prometheus.yml, then import grafana/mlserve-dashboard.json into Grafana',
  systemd: 'see the comments in systemd/mlserve.service to install it',
  kserve: 'mlserve export kserve --out kserve/ writes InferenceService manifests (see kserve/README.md)',
};

export default class Init extends BaseCommand {
  static override description = 'Write a starter mlserve.yaml and, on request, a CI bench workflow, a Grafana dashboard, a systemd unit and KServe notes';
  static override examples = [
    '<%= config.bin %> init',
    '<%= config.bin %> init --ci github --grafana --systemd --kserve',
    '<%= config.bin %> init --dir deploy/ --force',
  ];
  static override flags = {
    ci: Flags.string({ description: 'add a CI workflow that benchmarks and gates on latency', options: ['github'] }),
    grafana: Flags.boolean({ description: 'add a Grafana dashboard and a Prometheus scrape config', default: false }),
    kserve: Flags.boolean({ description: 'add notes on moving to KServe (mlserve export kserve)', default: false }),
    systemd: Flags.boolean({ description: 'add a systemd unit that runs the daemon', default: false }),
    dir: Flags.string({ description: 'where to write the files', default: '.' }),
    force: Flags.boolean({ description: 'overwrite files that exist', default: false }),
  };

  async run(): Promise<Result> {
    const { flags } = await this.parse(Init);
    const dir = resolve(flags.dir);
    const groups: (keyof typeof TEMPLATE_FILES)[] = ['config'];
    if (flags.ci === 'github') groups.push('github');
    if (flags.grafana) groups.push('grafana');
    if (flags.systemd) groups.push('systemd');
    if (flags.kserve) groups.push('kserve');
    const plan = groups.flatMap((g) => TEMPLATE_FILES[g].map(([template, target]) => ({ template, path: join(dir, target) })));

    for (const p of plan) {
      if (!existsSync(join(TEMPLATES, p.template))) this.fail('INTERNAL', `template ${p.template} is missing from ${TEMPLATES}; reinstall mlserve`);
    }
    const existing = plan.filter((p) => existsSync(p.path));
    if (existing.length && !flags.force) {
      this.fail('CONFLICT', `${existing.map((p) => show(p.path)).join(', ')} already ${existing.length === 1 ? 'exists' : 'exist'}; nothing written. Pass --force to overwrite`);
    }

    const files: Written[] = [];
    for (const p of plan) {
      const overwritten = existsSync(p.path);
      mkdirSync(dirname(p.path), { recursive: true });
      copyFileSync(join(TEMPLATES, p.template), p.path);
      files.push({ path: p.path, template: p.template, overwritten });
      this.say(`${overwritten ? 'overwrote' : 'wrote'} ${show(p.path)}`);
    }
    this.say('\nnext:');
    for (const g of groups) this.say(`  ${NEXT[g]}`);
    return { dir, files };
  }

}
