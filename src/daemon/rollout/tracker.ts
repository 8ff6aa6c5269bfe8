// Follow the registry: a deployment deployed with --track re-resolves its URI (an alias or a
// stage) every interval with one cheap registry call; when it names a new version, the endpoint
// rolls to it by itself (blue-green, or the automated canary analysis when the endpoint has a
// rollout policy). Registry outages pause tracking and say so; serving never stops.
import { MlserveError } from '../../errors.js';
import { findModelVersion } from '../../mlflow/file-store.js';
import { MlflowRestClient } from '../../mlflow/client.js';
import { splitSecrets } from '../../mlflow/credentials.js';
import { restConfig } from '../../mlflow/rest-config.js';
import { findVersion } from '../../mlflow/rest-registry.js';
import { parseModelSource, parseTrackingUri } from '../../mlflow/uri.js';

/** The version a registry URI names right now (no artifact download). */
export async function peekVersion(source: string, given: Record<string, string>, cwd: string): Promise<string> {
  const split = splitSecrets(given);
  const env = { ...split.public, ...split.secret };
  const parsed = parseModelSource(source);
  if (parsed.kind !== 'registry') throw new MlserveError('BAD_REQUEST', `--track follows registry URIs (models:/Name@alias or models:/Name/Stage), not ${source}`);
  const store = parseTrackingUri(env.MLFLOW_REGISTRY_URI || env.MLFLOW_TRACKING_URI, cwd);
  if (store.kind === 'file') return findModelVersion(store.root, parsed).version;
  const client = new MlflowRestClient(restConfig(store.url, { ...env, MLFLOW_HTTP_REQUEST_MAX_RETRIES: '1', MLSERVE_REGISTRY_TIMEOUT: '20' }));
  try {
    return String((await findVersion(client, parsed)).version);
  } finally {
    await client.close();
  }
}

export interface TrackerHooks {
  /** The deployment still serves as its endpoint's primary (else the tracker stops). */
  stillPrimary(): boolean;
  currentVersion(): string;
  rollTo(version: string): Promise<void>;
  event(kind: string, message: string, data?: unknown): void;
}

export class Tracker {
  private timer: NodeJS.Timeout | null = null;
  private paused = false;
  private busy = false;
  /** A look was asked for while one ran (a webhook): look again once it is done. */
  private again = false;

  constructor(
    readonly source: string,
    private readonly env: Record<string, string>,
    private readonly cwd: string,
    private readonly intervalMs: number,
    private readonly hooks: TrackerHooks,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.stopped = true;
  }

  /** Stopped (it rolled out, or its deployment no longer serves): the tracking loop makes a new one when needed. */
  stopped = false;

  async tick(): Promise<void> {
    if (this.busy) {
      this.again = true;
      return;
    }
    if (this.stopped) return;
    if (!this.hooks.stillPrimary()) return this.stop();
    this.busy = true;
    try {
      const version = await peekVersion(this.source, this.env, this.cwd);
      if (this.paused) {
        this.paused = false;
        this.hooks.event('track-resumed', `registry answers again; following ${this.source}`);
      }
      if (version !== this.hooks.currentVersion()) {
        this.hooks.event('track-moved', `${this.source} now names version ${version} (serving ${this.hooks.currentVersion()}); rolling out`, { version });
        this.stop();
        await this.hooks.rollTo(version);
      }
    } catch (err) {
      if (!this.paused) {
        this.paused = true;
        this.hooks.event('track-paused', `cannot read ${this.source} from the registry (${(err as Error).message}); tracking paused, serving continues`);
      }
    } finally {
      this.busy = false;
    }
    if (this.again) {
      this.again = false;
      await this.tick();
    }
  }
}
