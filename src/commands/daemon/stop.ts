import { existsSync } from 'node:fs';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { DaemonNotRunning, daemonHolding } from '../../cli/client.js';
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
      if (!(err instanceof DaemonNotRunning)) throw err;
      if (!err.pid) {
        this.say('mlserve daemon is not running');
        return { stopped: true, wasRunning: false };
      }
      // It holds the home but does not answer on its socket: SIGTERM stops it just as gracefully.
      pid = err.pid;
      this.progress(`the daemon (pid ${pid}) does not answer on its socket; sending it SIGTERM`);
      process.kill(pid, 'SIGTERM');
    }
    this.progress('stopping mlserve daemon (draining requests, stopping replicas)...');
    const deadline = Date.now() + flags.timeout * 1000;
    while (Date.now() < deadline) {
      if (!existsSync(paths.socket) && !alive(pid) && !daemonHolding(paths.socket).held) {
        this.say('mlserve daemon stopped');
        return { stopped: true, wasRunning: true };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    this.fail('DAEMON_FAILED', `the daemon did not stop within ${flags.timeout}s; see ${paths.daemonLog}`);
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
