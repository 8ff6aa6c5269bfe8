import { BaseCommand } from '../cli/base.js';
import { stateToDesired, type CurrentState } from '../config/desired.js';
import { renderConfig, toFileConfig } from '../config/render.js';
import type { DaemonInfo } from '../daemon/control/control-server.js';
import { VERSION } from '../version.js';

export default class Config extends BaseCommand {
  static override description = 'Print the daemon\'s desired state as a config file (Ray Serve style YAML) that mlserve apply -f takes: deployments, canaries, rollout policies';
  static override examples = [
    '<%= config.bin %> config > mlserve.yaml',
    '<%= config.bin %> config | <%= config.bin %> apply -f - --dry-run   # plans nothing (exit 0)',
  ];

  async run(): Promise<ReturnType<typeof toFileConfig>> {
    await this.parse(Config);
    const s = await this.client.call<{ daemon: DaemonInfo } & CurrentState>('GET', '/v1/status');
    const desired = stateToDesired(s);
    const header = [
      `The desired state of the mlserve daemon in ${s.daemon.home} (mlserve ${VERSION}), written by mlserve config.`,
      'Apply it with: mlserve apply -f <this file> (--dry-run first shows what would change).',
      'Fields follow Ray Serve: applications are endpoints; num_replicas or autoscaling_config; ray_actor_options.num_gpus;',
      'canary: is a second version beside the deployment (weight: and shadow: in percent); rollout: is its analysis policy.',
      'Local model paths are absolute; models:/ and runs:/ URIs resolve again when applied.',
    ];
    if (!this.jsonEnabled()) process.stdout.write(renderConfig(desired, header));
    return toFileConfig(desired);
  }
}
