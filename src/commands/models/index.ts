import { BaseCommand } from '../../cli/base.js';
import { table } from '../../cli/format.js';
import { browseRegistry, type Browse } from '../../mlflow/browse.js';

export default class Models extends BaseCommand {
  static override description = 'List registered models in the MLflow registry (MLFLOW_TRACKING_URI): versions, stages, aliases';

  async run(): Promise<Browse> {
    await this.parse(Models);
    const b = await browseRegistry(process.env, process.cwd());
    this.say(`registry: ${b.registry}`);
    if (b.models.length === 0) {
      this.say('no registered models');
      return b;
    }
    this.say(
      table(
        ['MODEL', 'VERSIONS', 'STAGES', 'ALIASES'],
        b.models.map((m) => [
          m.name,
          String(m.versions.length),
          m.versions.filter((v) => v.stage !== 'None').map((v) => `${v.stage}:${v.version}`).join(' ') || '-',
          m.versions.flatMap((v) => v.aliases.map((a) => `@${a}:${v.version}`)).join(' ') || '-',
        ]),
      ),
    );
    return b;
  }
}
