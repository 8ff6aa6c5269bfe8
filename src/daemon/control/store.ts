// The state store: better-sqlite3 in WAL mode, the only SQL in mlserve. It holds the *desired*
// state (endpoints, deployments and their settings) plus what was last observed of replicas, and
// an append-only event log. Schema changes are numbered migrations recorded in schema_version.
import Database from 'better-sqlite3';
import type { Signature } from '../../tensor.js';
import { MIGRATIONS } from './migrations.js';
import type { DeploymentRow, DeploymentSettings, DeploymentState, EndpointRow, EventRow, ReplicaRow } from './state.js';

export type * from './state.js';

interface DeploymentRecord {
  name: string;
  endpoint: string;
  model_uri: string;
  resolved: string;
  model_dir: string;
  model_file: string;
  signature: string | null;
  settings: string;
  state: DeploymentState;
  message: string | null;
  created_at: number;
  updated_at: number;
}

function toDeployment(r: DeploymentRecord): DeploymentRow {
  return {
    name: r.name,
    endpoint: r.endpoint,
    modelUri: r.model_uri,
    resolved: JSON.parse(r.resolved),
    modelDir: r.model_dir,
    modelFile: r.model_file,
    signature: r.signature ? JSON.parse(r.signature) : null,
    settings: JSON.parse(r.settings),
    state: r.state,
    message: r.message,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export class Store {
  readonly db: Database.Database;

  constructor(file: string, private readonly now: () => number = Date.now) {
    this.db = new Database(file);
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('busy_timeout = 5000');
      this.migrate();
    } catch (err) {
      this.db.close(); // a file that is not a sound database: leave nothing open
      throw err;
    }
  }

  /** SQLite's PRAGMA quick_check: the problems it finds (none: the file is sound). */
  quickCheck(): string[] {
    const rows = this.db.pragma('quick_check') as { quick_check: string }[];
    return rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
  }

  /** Copy the whole database to `file` with SQLite's online backup (consistent while in use). */
  async backup(file: string): Promise<void> {
    await this.db.backup(file);
  }

  /** Apply every migration newer than the recorded schema version, each in its own transaction. */
  private migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const row = this.db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
    let version = row?.version ?? 0;
    if (!row) this.db.prepare('INSERT INTO schema_version (version) VALUES (0)').run();
    if (version > MIGRATIONS.length) {
      throw new Error(`state.db has schema version ${version}, newer than this mlserve knows (${MIGRATIONS.length}); upgrade mlserve`);
    }
    for (; version < MIGRATIONS.length; version++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[version]);
        this.db.prepare('UPDATE schema_version SET version = ?').run(version + 1);
      })();
    }
  }

  /** Run `fn` in one SQLite transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  schemaVersion(): number {
    return (this.db.prepare('SELECT version FROM schema_version').get() as { version: number }).version;
  }

  close(): void {
    this.db.close();
  }

  // --- endpoints and deployments -------------------------------------------------------------

  /** Create a deployment and (if new) its endpoint in one transaction. */
  createDeployment(d: Omit<DeploymentRow, 'createdAt' | 'updatedAt'>): void {
    const now = this.now();
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO deployments (name, endpoint, model_uri, resolved, model_dir, model_file, signature,
             settings, state, message, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(d.name, d.endpoint, d.modelUri, JSON.stringify(d.resolved), d.modelDir, d.modelFile,
          d.signature ? JSON.stringify(d.signature) : null, JSON.stringify(d.settings), d.state, d.message, now, now);
      this.db
        .prepare('INSERT OR IGNORE INTO endpoints (name, primary_deployment, created_at) VALUES (?, ?, ?)')
        .run(d.endpoint, d.name, now);
    })();
  }

  listDeployments(): DeploymentRow[] {
    const rows = this.db.prepare('SELECT * FROM deployments ORDER BY created_at, name').all() as DeploymentRecord[];
    return rows.map(toDeployment);
  }

  getDeployment(name: string): DeploymentRow | undefined {
    const r = this.db.prepare('SELECT * FROM deployments WHERE name = ?').get(name) as DeploymentRecord | undefined;
    return r ? toDeployment(r) : undefined;
  }

  deploymentState(name: string): { state: DeploymentState; message: string | null } | undefined {
    return this.db.prepare('SELECT state, message FROM deployments WHERE name = ?').get(name) as { state: DeploymentState; message: string | null } | undefined;
  }

  setDeploymentState(name: string, state: DeploymentState, message: string | null): void {
    this.db
      .prepare('UPDATE deployments SET state = ?, message = ?, updated_at = ? WHERE name = ?')
      .run(state, message, this.now(), name);
  }

  /** Point an existing deployment at another model and/or settings (its next revision). */
  updateModel(name: string, d: Pick<DeploymentRow, 'modelUri' | 'resolved' | 'modelDir' | 'modelFile' | 'signature' | 'settings'>): void {
    this.db
      .prepare('UPDATE deployments SET model_uri = ?, resolved = ?, model_dir = ?, model_file = ?, signature = ?, settings = ?, updated_at = ? WHERE name = ?')
      .run(d.modelUri, JSON.stringify(d.resolved), d.modelDir, d.modelFile, d.signature ? JSON.stringify(d.signature) : null, JSON.stringify(d.settings), this.now(), name);
  }

  updateSettings(name: string, settings: DeploymentSettings): void {
    this.db.prepare('UPDATE deployments SET settings = ?, updated_at = ? WHERE name = ?').run(JSON.stringify(settings), this.now(), name);
  }

  daemonStarts(): number {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'daemon_starts'").get() as { value: string } | undefined;
    return Number(row?.value ?? 0);
  }

  /** Count one more daemon start; returns the new count. */
  countDaemonStart(): number {
    return this.db.transaction(() => {
      const row = this.db.prepare("SELECT value FROM meta WHERE key = 'daemon_starts'").get() as { value: string } | undefined;
      const n = Number(row?.value ?? 0) + 1;
      this.db.prepare("INSERT INTO meta (key, value) VALUES ('daemon_starts', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(n));
      return n;
    })();
  }

  setSignature(name: string, signature: Signature): void {
    this.db.prepare('UPDATE deployments SET signature = ? WHERE name = ?').run(JSON.stringify(signature), name);
  }

  /** Remove a deployment, its replicas, and its endpoint when no deployment is left on it. */
  deleteDeployment(name: string): void {
    this.db.transaction(() => {
      const d = this.getDeployment(name);
      this.db.prepare('DELETE FROM replicas WHERE deployment = ?').run(name);
      this.db.prepare('DELETE FROM deployments WHERE name = ?').run(name);
      if (d) {
        const left = this.db.prepare('SELECT name FROM deployments WHERE endpoint = ? ORDER BY created_at').get(d.endpoint) as
          | { name: string }
          | undefined;
        if (!left) {
          this.db.prepare('DELETE FROM endpoints WHERE name = ?').run(d.endpoint);
          this.db.prepare('DELETE FROM capture WHERE endpoint = ?').run(d.endpoint); // its files stay
          this.db.prepare('DELETE FROM drift_schedule WHERE endpoint = ?').run(d.endpoint);
        }
        else {
          this.db.prepare('UPDATE endpoints SET primary_deployment = ? WHERE name = ? AND primary_deployment = ?').run(left.name, d.endpoint, name);
          this.db.prepare('UPDATE endpoints SET canary_deployment = NULL, canary_weight = 0, canary_started_at = NULL WHERE name = ? AND (canary_deployment = ? OR canary_deployment = primary_deployment)').run(d.endpoint, name);
          this.db.prepare('UPDATE endpoints SET next_primary = NULL WHERE name = ? AND (next_primary = ? OR next_primary = primary_deployment)').run(d.endpoint, name);
        }
      }
    })();
  }

  listEndpoints(): EndpointRow[] {
    const rows = this.db.prepare('SELECT * FROM endpoints ORDER BY name').all() as {
      name: string;
      primary_deployment: string;
      created_at: number;
      canary_deployment: string | null;
      canary_weight: number;
      canary_started_at: number | null;
      shadow_weight: number;
      rollout: string | null;
      next_primary: string | null;
    }[];
    return rows.map((r) => ({
      name: r.name, primary: r.primary_deployment, createdAt: r.created_at,
      canary: r.canary_deployment, canaryWeight: r.canary_weight, canaryStartedAt: r.canary_started_at,
      shadowWeight: r.shadow_weight, rollout: r.rollout ? JSON.parse(r.rollout) : null, nextPrimary: r.next_primary,
    }));
  }

  getEndpoint(name: string): EndpointRow | undefined {
    return this.listEndpoints().find((e) => e.name === name);
  }

  /** Point an endpoint at a primary and (optionally) a canary with its weight. */
  setRouting(endpoint: string, primary: string, canary: string | null, weight: number): void {
    const cur = this.getEndpoint(endpoint);
    const started = canary ? (cur?.canary === canary ? cur.canaryStartedAt : this.now()) : null;
    this.db
      .prepare(`UPDATE endpoints SET primary_deployment = ?, canary_deployment = ?, canary_weight = ?, canary_started_at = ?,
                  shadow_weight = CASE WHEN ? IS NULL THEN 0 ELSE shadow_weight END WHERE name = ?`)
      .run(primary, canary, canary ? weight : 0, started, canary, endpoint);
  }

  /** Let `next` take over as primary once it is ready (null: no replacement pending). */
  setNextPrimary(endpoint: string, next: string | null): void {
    this.db.prepare('UPDATE endpoints SET next_primary = ? WHERE name = ?').run(next, endpoint);
  }

  setShadow(endpoint: string, weight: number): void {
    this.db.prepare('UPDATE endpoints SET shadow_weight = ? WHERE name = ?').run(weight, endpoint);
  }

  setRollout(endpoint: string, rollout: unknown): void {
    this.db.prepare('UPDATE endpoints SET rollout = ? WHERE name = ?').run(rollout === null ? null : JSON.stringify(rollout), endpoint);
  }

  /** Payload capture per endpoint (null: off). */
  setCapture(endpoint: string, settings: unknown): void {
    if (settings === null) this.db.prepare('DELETE FROM capture WHERE endpoint = ?').run(endpoint);
    else this.db.prepare('INSERT OR REPLACE INTO capture (endpoint, settings, updated_at) VALUES (?, ?, ?)').run(endpoint, JSON.stringify(settings), this.now());
  }

  listCapture(): Array<{ endpoint: string; settings: unknown; updatedAt: number }> {
    const rows = this.db.prepare('SELECT * FROM capture ORDER BY endpoint').all() as { endpoint: string; settings: string; updated_at: number }[];
    return rows.map((r) => ({ endpoint: r.endpoint, settings: JSON.parse(r.settings), updatedAt: r.updated_at }));
  }

  /** Scheduled drift reports per endpoint (null: none). */
  setDriftSchedule(endpoint: string, settings: unknown): void {
    if (settings === null) this.db.prepare('DELETE FROM drift_schedule WHERE endpoint = ?').run(endpoint);
    else this.db.prepare('INSERT OR REPLACE INTO drift_schedule (endpoint, settings, updated_at) VALUES (?, ?, ?)').run(endpoint, JSON.stringify(settings), this.now());
  }

  listDriftSchedules(): unknown[] {
    return (this.db.prepare('SELECT settings FROM drift_schedule ORDER BY endpoint').all() as { settings: string }[]).map((r) => JSON.parse(r.settings));
  }

  // --- replicas (observed) -------------------------------------------------------------------

  upsertReplica(r: ReplicaRow): void {
    this.db
      .prepare(
        `INSERT INTO replicas (deployment, idx, pid, state, restarts, started_at, last_error, gpu)
         VALUES (@deployment, @idx, @pid, @state, @restarts, @startedAt, @lastError, @gpu)
         ON CONFLICT (deployment, idx) DO UPDATE SET pid = @pid, state = @state, restarts = @restarts,
           started_at = @startedAt, last_error = @lastError, gpu = @gpu`,
      )
      .run({ ...r, gpu: r.gpu ? JSON.stringify(r.gpu) : null });
  }

  deleteReplicasFrom(deployment: string, fromIdx: number): void {
    this.db.prepare('DELETE FROM replicas WHERE deployment = ? AND idx >= ?').run(deployment, fromIdx);
  }

  deleteReplica(deployment: string, idx: number): void {
    this.db.prepare('DELETE FROM replicas WHERE deployment = ? AND idx = ?').run(deployment, idx);
  }

  listReplicas(deployment?: string): ReplicaRow[] {
    const sql = 'SELECT deployment, idx, pid, state, restarts, started_at AS startedAt, last_error AS lastError, gpu FROM replicas';
    const rows = (deployment
      ? this.db.prepare(`${sql} WHERE deployment = ? ORDER BY idx`).all(deployment)
      : this.db.prepare(`${sql} ORDER BY deployment, idx`).all()) as (ReplicaRow & { gpu: string | null })[];
    return rows.map((r) => ({ ...r, gpu: r.gpu ? JSON.parse(r.gpu) : null }));
  }

  // --- events --------------------------------------------------------------------------------

  addEvent(kind: string, subject: string, message: string, data?: unknown): void {
    this.db
      .prepare('INSERT INTO events (ts, kind, subject, message, data) VALUES (?, ?, ?, ?, ?)')
      .run(this.now(), kind, subject, message, data === undefined ? null : JSON.stringify(data));
  }

  listEvents(opts: { subject?: string; limit?: number; afterId?: number } = {}): EventRow[] {
    const limit = opts.limit ?? 50;
    const where: string[] = [];
    const args: unknown[] = [];
    if (opts.subject) {
      where.push('(subject = ? OR subject LIKE ?)');
      args.push(opts.subject, `${opts.subject}/%`);
    }
    if (opts.afterId !== undefined) {
      where.push('id > ?');
      args.push(opts.afterId);
    }
    const sql = `SELECT * FROM (SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                 ORDER BY id DESC LIMIT ?) ORDER BY id`;
    const rows = this.db.prepare(sql).all(...args, limit) as (Omit<EventRow, 'data'> & { data: string | null })[];
    return rows.map((r) => ({ ...r, data: r.data ? JSON.parse(r.data) : null }));
  }
}
