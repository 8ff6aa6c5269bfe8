import { BaseCommand } from '../../cli/base.js';
import { formatBytes, table } from '../../cli/format.js';
import type { CaptureStatus } from '../../daemon/capture/capture.js';

export default class CaptureStatusCommand extends BaseCommand {
  static override description = 'Where payload capture is on: sample, destination, records written and sent, drops by reason, files on disk';

  async run(): Promise<{ capture: CaptureStatus[] }> {
    await this.parse(CaptureStatusCommand);
    const r = await this.client.call<{ capture: CaptureStatus[] }>('GET', '/v1/capture');
    if (r.capture.length === 0) {
      this.say('payload capture is off everywhere; turn it on with mlserve capture on <endpoint> --sample 5%');
      return r;
    }
    const dropped = (c: CaptureStatus) => Object.entries(c.dropped).map(([k, v]) => `${v} ${k}`).join(', ') || '0';
    this.say(table(
      ['ENDPOINT', 'SAMPLE', 'TO', 'WRITTEN', 'SENT', 'DROPPED', 'FILES'],
      r.capture.map((c) => [
        c.endpoint, `${Number((c.settings.sample * 100).toPrecision(4))}%`, [c.settings.files ? 'files' : '', c.settings.url ? 'url' : ''].filter(Boolean).join('+'),
        String(c.written), String(c.sent), dropped(c), `${c.files} (${formatBytes(c.bytes)})`,
      ]),
    ));
    for (const c of r.capture) {
      if (c.lastError) this.say(`${c.endpoint}: last error: ${c.lastError}`);
      if (c.skipped.length) this.say(`${c.endpoint}: not recorded: ${c.skipped.join('; ')}`);
    }
    return r;
  }
}
