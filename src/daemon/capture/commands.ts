// `mlserve capture on|off|status` in the daemon: check the endpoint and the settings, save them (the
// store is the desired state), and have the capture read them again.
import { MlserveError, notFound } from '../../errors.js';
import type { Store } from '../control/store.js';
import type { Capture, CaptureStatus } from './capture.js';
import { parseCaptureSettings, type CaptureSettings } from './settings.js';

const pct = (x: number) => `${Number((x * 100).toPrecision(4))}%`;

export class CaptureCommands {
  constructor(private readonly deps: { store: Store; capture: Capture; dir: string }) {}

  private endpoint(name: string) {
    const ep = this.deps.store.getEndpoint(name);
    if (!ep) {
      const known = this.deps.store.listEndpoints().map((e) => e.name);
      throw notFound(`no endpoint named '${name}'${known.length ? ` (endpoints: ${known.join(', ')})` : ''}; see mlserve status`);
    }
    const runtime = this.deps.store.getDeployment(ep.primary)?.settings.runtime;
    if (runtime === 'llamacpp' || runtime === 'openai') {
      throw new MlserveError('BAD_REQUEST', `endpoint ${name} serves a language model through the OpenAI API; payload capture records Open Inference Protocol and /invocations requests only`);
    }
    return ep;
  }

  on(name: string, body: Record<string, unknown>): { endpoint: string; settings: CaptureSettings; dir: string | null } {
    this.endpoint(name);
    const settings = parseCaptureSettings(body);
    this.deps.store.setCapture(name, settings);
    this.deps.capture.reload();
    const to = [settings.files ? `${this.deps.dir}/${name}/` : null, settings.url].filter(Boolean).join(' and ');
    this.deps.store.addEvent('capture-on', name, `capturing ${pct(settings.sample)} of requests to ${to}`, settings);
    return { endpoint: name, settings, dir: settings.files ? `${this.deps.dir}/${name}` : null };
  }

  async off(name: string): Promise<{ endpoint: string; stopped: boolean }> {
    if (!this.deps.store.listCapture().some((c) => c.endpoint === name)) {
      throw notFound(`payload capture is not on for '${name}'; mlserve capture status lists where it is`);
    }
    await this.deps.capture.flush(); // what was sampled before "off" is written
    this.deps.store.setCapture(name, null);
    this.deps.capture.reload();
    this.deps.store.addEvent('capture-off', name, 'payload capture stopped (its files stay)');
    return { endpoint: name, stopped: true };
  }

  status(): Promise<CaptureStatus[]> {
    return this.deps.capture.status();
  }
}
