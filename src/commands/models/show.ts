import { Args } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { table } from '../../cli/format.js';
import { browseRegistry, type ModelView } from '../../mlflow/browse.js';

const specs = (xs: { name: string; datatype: string; shape: number[] }[]) => xs.map((s) => `${s.name}:${s.datatype}[${s.shape.join(',')}]`).join(' ');

export default class ModelsShow extends BaseCommand {
  static override description = "Show a registered model's versions: stage, aliases, run, source, flavors and signature";
  static override args = { name: Args.string({ description: 'registered model name', required: true }) };

  async run(): Promise<ModelView> {
    const { args } = await this.parse(ModelsShow);
    const b = await browseRegistry(process.env, process.cwd(), args.name);
    const m = b.models[0];
    if (!m) this.fail('NOT_FOUND', `Registered Model with name=${args.name} not found in ${b.registry}; see mlserve models`);
    this.say(`${m.name}${m.description ? `: ${m.description}` : ''} (${b.registry})`);
    this.say(table(['VERSION', 'STAGE', 'ALIASES', 'RUN', 'FLAVORS'], m.versions.map((v) => [
      v.version, v.stage, v.aliases.map((a) => `@${a}`).join(' ') || '-', v.runId?.slice(0, 12) ?? '-', v.flavors?.join(',') ?? '?',
    ])));
    for (const v of m.versions) {
      this.say(`\nversion ${v.version}: ${v.source ?? ''}`);
      if (v.signature) this.say(`  inputs:  ${specs(v.signature.inputs)}\n  outputs: ${specs(v.signature.outputs)}`);
      else if (v.flavors && !v.flavors.includes('onnx')) this.say('  no onnx flavor: mlserve cannot serve this version');
    }
    return m;
  }
}
