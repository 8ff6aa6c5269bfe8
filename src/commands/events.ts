import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import type { EventRow } from '../daemon/control/store.js';

export default class Events extends BaseCommand {
  static override description = 'Show what happened and why (deploys, replica starts, crashes, failures)';
  static override args = { subject: Args.string({ description: 'only events of this deployment (or daemon)' }) };
  static override flags = { limit: Flags.integer({ char: 'n', default: 30, description: 'how many' }) };

  async run(): Promise<EventRow[]> {
    const { args, flags } = await this.parse(Events);
    const q = new URLSearchParams({ limit: String(flags.limit) });
    if (args.subject) q.set('subject', args.subject);
    const events = await this.client.call<EventRow[]>('GET', `/v1/events?${q}`);
    for (const e of events) {
      const t = new Date(e.ts).toISOString().slice(11, 19);
      this.say(`${t}  ${e.kind.padEnd(16)} ${e.subject.padEnd(18)} ${e.message}`);
    }
    return events;
  }
}
