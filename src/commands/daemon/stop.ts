import { existsSync } from 'node:fs';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { DaemonNotRunning } from '../../cli/client.js';
import { homePaths } from '../../home.js';

export default class DaemonStop extends BaseCommand {
  static override description = 'Stop the daemon gracefully: drain requests, stop replicas, remove the socket';
  static override flags = {
    timeout: Flags.integer({ description: 'seconds to wait for it to stop', default: 60 }),
  };

  async run(): Promise<{ stopped: boolean; wasRunning: boolean }> {
    const { flags } = await this.parse(DaemonStop);
    const paths = homePaths();
    let pid = 0;
    try {
      pid = (await this.client.call<{ pid: number }>('GET', '/v1/health')).pid;
      await this.client.call('POST', '/v1/shutdown');
    } catch (err) {
      if (err instanceof DaemonNotRunning) {
        this.say('mlserve daemon is not running');
        return { stopped: true, wasRunning: false };
      }
      throw err;
    }
    this.progress('stopping mlserve daemon (draining requests, stopping replicas)...');
    const deadline = Date.now() + flags.timeout * 1000;
    while (Date.now() < deadline) {
      if (!existsSync(paths.socket) && !alive(pid)) {
        this.say('mlserve daemon stopped');
        return { stopped: true, wasRunning: true };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    this.fail(`the daemon did not stop within ${flags.timeout}s; see ${paths.daemonLog}`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
