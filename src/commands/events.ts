import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { ControlError } from '../cli/client.js';
import type { EndpointRow, EventRow } from '../daemon/control/store.js';

export default class Events extends BaseCommand {
  static override description = 'Show what happened and why (deploys, replica starts, crashes, failures)';
  static override args = { subject: Args.string({ description: 'only events of this deployment or endpoint (or daemon)' }) };
  static override flags = { limit: Flags.integer({ char: 'n', default: 30, description: 'how many' }) };

  async run(): Promise<EventRow[]> {
    const { args, flags } = await this.parse(Events);
    const q = new URLSearchParams({ limit: String(flags.limit) });
    if (args.subject) q.set('subject', args.subject);
    const events = await this.client.call<EventRow[]>('GET', `/v1/events?${q}`);
    // No events for a name the daemon does not know (a typo, not a quiet deployment): say so.
    if (args.subject && events.length === 0 && args.subject !== 'daemon') {
      const s = await this.client.call<{ endpoints: EndpointRow[]; deployments: { name: string }[] }>('GET', '/v1/status');
      const known = [...new Set([...s.endpoints.map((e) => e.name), ...s.deployments.map((d) => d.name)])].sort();
      if (!known.includes(args.subject)) {
        throw new ControlError(
          `no deployment or endpoint named '${args.subject}', and no events for it; ${known.length ? `known: ${known.join(', ')}` : 'nothing is deployed'} (see mlserve status)`,
          404,
          'NOT_FOUND',
        );
      }
    }
    for (const e of events) {
      const t = new Date(e.ts).toISOString().slice(11, 19);
      this.say(`${t}  ${e.kind.padEnd(16)} ${e.subject.padEnd(18)} ${e.message}`);
    }
    return events;
  }
}
