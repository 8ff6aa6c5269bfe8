import { BaseCommand } from '../cli/base.js';
import { currentToDesired, type CurrentDeployment } from '../config/plan.js';
import { renderConfig, toFileConfig } from '../config/schema.js';
import type { DaemonInfo } from '../daemon/control/control-server.js';
import { VERSION } from '../version.js';

export default class Config extends BaseCommand {
  static override description = 'Print the running deployments as a config file (Ray Serve style YAML) that mlserve apply -f takes';
  static override examples = [
    '<%= config.bin %> config > mlserve.yaml',
    '<%= config.bin %> config > mlserve.yaml && <%= config.bin %> apply -f mlserve.yaml   # plans nothing',
  ];

  async run(): Promise<ReturnType<typeof toFileConfig>> {
    await this.parse(Config);
    const s = await this.client.call<{ daemon: DaemonInfo; deployments: CurrentDeployment[] }>('GET', '/v1/status');
    const desired = s.deployments.map(currentToDesired);
    const header = [
      `The deployments running on the mlserve daemon in ${s.daemon.home} (mlserve ${VERSION}), written by mlserve config.`,
      'Apply it with: mlserve apply -f <this file> (--dry-run first shows what would change).',
      'Fields follow Ray Serve: applications are endpoints; num_replicas or autoscaling_config; ray_actor_options.num_gpus.',
      'Local model paths are absolute; models:/ and runs:/ URIs resolve again when applied.',
    ];
    if (!this.jsonEnabled()) process.stdout.write(renderConfig(desired, header));
    return toFileConfig(desired);
  }
}
