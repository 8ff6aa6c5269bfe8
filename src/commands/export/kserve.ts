import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { kserveManifests, serviceYaml, servicesYaml, type ExportStatus, type InferenceService } from '../../export/kserve.js';

type Result = { manifests: InferenceService[]; files: string[]; needsUpload: string[] };

export default class ExportKserve extends BaseCommand {
  static override description = 'Write KServe InferenceService manifests (one per endpoint) for what the daemon serves';
  static override examples = [
    '<%= config.bin %> export kserve > isvc.yaml',
    '<%= config.bin %> export kserve --out kserve/ --namespace models',
  ];
  static override flags = {
    out: Flags.string({ char: 'o', description: 'a folder to write one <endpoint>.yaml per endpoint into (default: print to stdout)' }),
    namespace: Flags.string({ char: 'n', description: 'metadata.namespace of every manifest' }),
  };

  async run(): Promise<Result> {
    const { flags } = await this.parse(ExportKserve);
    const status = await this.client.call<ExportStatus>('GET', '/v1/status');
    const services = kserveManifests(status, { namespace: flags.namespace });
    const needsUpload = services.filter((s) => s.needsUpload).map((s) => s.endpoint);
    const files: string[] = [];
    if (services.length === 0) {
      process.stderr.write('nothing deployed: nothing to export (deploy a model first)\n');
    } else if (flags.out) {
      const dir = resolve(flags.out);
      mkdirSync(dir, { recursive: true });
      for (const s of services) {
        const file = join(dir, `${s.manifest.metadata.name}.yaml`);
        writeFileSync(file, serviceYaml(s));
        files.push(file);
        this.say(`wrote ${file}`);
      }
    } else if (!this.jsonEnabled()) {
      process.stdout.write(servicesYaml(services));
    }
    if (needsUpload.length) {
      this.progress(`storageUri is a placeholder for ${needsUpload.join(', ')}: upload the model and replace it (see the TODO comments)`);
    }
    return { manifests: services.map((s) => s.manifest), files, needsUpload };
  }

}
