// `mlserve drift <endpoint> --every ...` in the daemon: check the endpoint and the schedule, run the
// first report at once (so a bad reference fails now, not in ten minutes), then save the schedule.
import { badRequest, notFound } from '../../errors.js';
import type { Store } from '../control/store.js';
import { parseSchedule, type DriftRun, type DriftSchedule, type DriftScheduler } from './drift-schedule.js';

export class DriftCommands {
  constructor(private readonly deps: { store: Store; scheduler: DriftScheduler }) {}

  async schedule(endpoint: string, body: Record<string, unknown>): Promise<{ schedule: DriftSchedule; first: DriftRun }> {
    if (!this.deps.store.getEndpoint(endpoint)) throw notFound(`no endpoint named '${endpoint}'; see mlserve status`);
    const schedule = parseSchedule(endpoint, body);
    try {
      await this.deps.scheduler.reference(schedule.reference); // a reference that does not read is refused now
    } catch (err) {
      throw badRequest(`cannot use --reference ${schedule.reference}: ${(err as Error).message}`);
    }
    const first = await this.deps.scheduler.run(schedule);
    this.deps.store.setDriftSchedule(endpoint, schedule);
    this.deps.store.addEvent('drift-scheduled', endpoint, `drift report every ${schedule.everyMs / 60_000} min against ${schedule.reference} over the last ${schedule.windowMs / 60_000} min`, schedule);
    return { schedule, first };
  }

  unschedule(endpoint: string): { endpoint: string; stopped: boolean } {
    if (!(this.deps.store.listDriftSchedules() as DriftSchedule[]).some((s) => s.endpoint === endpoint)) {
      throw notFound(`no drift schedule on '${endpoint}'; mlserve drift --list shows the schedules`);
    }
    this.deps.store.setDriftSchedule(endpoint, null);
    this.deps.scheduler.forget(endpoint);
    this.deps.store.addEvent('drift-unscheduled', endpoint, 'scheduled drift reports stopped');
    return { endpoint, stopped: true };
  }

  list(): { schedules: DriftSchedule[]; runs: DriftRun[] } {
    return { schedules: this.deps.store.listDriftSchedules() as DriftSchedule[], runs: this.deps.scheduler.runs() };
  }
}
