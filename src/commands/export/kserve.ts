import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { kserveManifests, serviceYaml, servicesYaml, type ExportedService, type ExportStatus, type InferenceService } from '../../export/kserve.js';
import { tritonLayout } from '../../export/triton.js';
import { externalDataFiles } from '../../mlflow/onnx-files.js';

type Result = { manifests: InferenceService[]; files: string[]; needsUpload: string[] };

export default class ExportKserve extends BaseCommand {
  static override description = 'Write KServe InferenceService manifests (one per endpoint) for what the daemon serves; with --out, also the Triton model repository of each plain .onnx model';
  static override examples = [
    '<%= config.bin %> export kserve > isvc.yaml',
    '<%= config.bin %> export kserve --out kserve/ --namespace models',
  ];
  static override flags = {
    out: Flags.string({ char: 'o', description: 'a folder to write one <endpoint>.yaml per endpoint into, and for a plain .onnx model its Triton model repository <endpoint>/ (default: print the manifests to stdout)' }),
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
        if (s.triton) {
          const written = this.writeTriton(dir, s);
          files.push(...written);
          this.say(`wrote ${join(dir, s.triton.folder)}/ (a Triton model repository: ${written.map((f) => f.slice(dir.length + s.triton!.folder.length + 2)).join(', ')}); upload it to the storageUri in ${file}`);
        }
      }
    } else if (!this.jsonEnabled()) {
      process.stdout.write(servicesYaml(services));
    }
    const triton = services.filter((s) => s.triton).map((s) => s.endpoint);
    if (triton.length && !flags.out) this.progress(`${triton.join(', ')}: pass --out DIR to also write the Triton model repository (config.pbtxt, 1/model.onnx) that KServe's onnx runtime loads`);
    if (needsUpload.length) {
      this.progress(`storageUri is a placeholder for ${needsUpload.join(', ')}: upload the model and replace it (see the TODO comments)`);
    }
    return { manifests: services.map((s) => s.manifest), files, needsUpload };
  }

  /** <dir>/<folder>/<model>/config.pbtxt and <model>/1/model.onnx (+ its external-data files), from the daemon's cached copy. */
  private writeTriton(dir: string, s: ExportedService): string[] {
    const t = s.triton!;
    if (!t.modelFile || !existsSync(t.modelFile)) this.fail('NOT_FOUND', `the model file of ${s.endpoint} (${t.modelFile ?? 'unknown'}) is not in the cache any more; deploy it again, then export`);
    const root = join(dir, t.folder);
    const layout = tritonLayout(t.model, externalDataFiles(t.modelFile));
    const put = (rel: string, write: (to: string) => void) => {
      const to = join(root, rel);
      mkdirSync(dirname(to), { recursive: true });
      write(to);
      return to;
    };
    return [
      put(layout.config, (to) => writeFileSync(to, t.config)),
      put(layout.model, (to) => copyFileSync(t.modelFile!, to)),
      ...layout.weights.map((w) => put(w.to, (to) => copyFileSync(join(dirname(t.modelFile!), w.rel), to))),
    ];
  }

}
