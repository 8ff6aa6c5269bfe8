import { BaseCommand } from '../cli/base.js';
import { table } from '../cli/format.js';

type Report = {
  source: string;
  simulated: boolean;
  mps: boolean;
  gpus: { index: number; name: string; allocated: number; free: number; replicas: string[]; memoryTotalMiB: number; memoryUsedMiB: number }[];
};

export default class Gpus extends BaseCommand {
  static override description = 'List GPUs with the replicas placed on them, their shares and memory';

  async run(): Promise<Report> {
    await this.parse(Gpus);
    const r = await this.client.call<Report>('GET', '/v1/gpus');
    this.say(`inventory: ${r.source}${r.mps ? ', MPS on' : ''}`);
    if (r.gpus.length === 0) this.say('no GPUs (replicas run on CPU)');
    else {
      this.say(table(['GPU', 'NAME', 'ALLOCATED', 'FREE', 'MEMORY', 'REPLICAS'], r.gpus.map((g) => [
        String(g.index), g.name, g.allocated.toFixed(2), g.free.toFixed(2),
        `${Math.round(g.memoryUsedMiB / 1024)}/${Math.round(g.memoryTotalMiB / 1024)} GiB`, g.replicas.join(' ') || '-',
      ])));
    }
    return r;
  }
}
