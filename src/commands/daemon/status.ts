import { BaseCommand } from '../../cli/base.js';
import type { DaemonInfo } from '../../daemon/control/control-server.js';
import { formatAge } from '../../cli/format.js';

export default class DaemonStatus extends BaseCommand {
  static override description = 'Show whether the daemon runs, its pid, version and addresses';

  async run(): Promise<DaemonInfo> {
    await this.parse(DaemonStatus);
    const info = await this.client.call<DaemonInfo>('GET', '/v1/health');
    this.say(
      `mlserve daemon ${info.version} running (pid ${info.pid}, up ${formatAge(Date.now() - info.startedAt)})\n` +
        `  ingress: ${info.ingress.url}\n  control: ${info.socket}\n  home:    ${info.home}`,
    );
    return info;
  }
}
