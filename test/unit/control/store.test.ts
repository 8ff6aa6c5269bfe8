import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../../src/daemon/control/store.js';
import { MIGRATIONS } from '../../../src/daemon/control/migrations.js';

const dirs: string[] = [];
const dbFile = () => {
  const d = mkdtempSync(join(tmpdir(), 'store-'));
  dirs.push(d);
  return join(d, 'state.db');
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

const dep = (name: string, endpoint: string) => ({
  name, endpoint, modelUri: 'models:/M/1', resolved: { kind: 'registry' as const, name: 'M', version: '1' },
  modelDir: '/c', modelFile: '/c/model.onnx', signature: null, settings: { replicas: 2 }, state: 'loading' as const, message: null,
});

describe('Store', () => {
  it('migrates a new file to the latest schema in WAL mode, and reopens without migrating again', () => {
    const f = dbFile();
    const s = new Store(f);
    expect(s.schemaVersion()).toBe(MIGRATIONS.length);
    expect(s.db.pragma('journal_mode', { simple: true })).toBe('wal');
    s.createDeployment(dep('a-v1', 'a'));
    s.close();
    const again = new Store(f);
    expect(again.schemaVersion()).toBe(MIGRATIONS.length);
    expect(again.getDeployment('a-v1')?.settings).toEqual({ replicas: 2 });
    again.close();
  });

  it('refuses a database from a newer mlserve', () => {
    const f = dbFile();
    const s = new Store(f);
    s.db.prepare('UPDATE schema_version SET version = 99').run();
    s.close();
    expect(() => new Store(f)).toThrow(/newer than this mlserve knows/);
  });

  it('keeps endpoints in step with their deployments', () => {
    const s = new Store(dbFile());
    s.createDeployment(dep('a-v1', 'a'));
    expect(s.listEndpoints()).toMatchObject([{ name: 'a', primary: 'a-v1', canary: null, canaryWeight: 0 }]);
    s.upsertReplica({ deployment: 'a-v1', idx: 0, pid: 5, state: 'ready', restarts: 0, startedAt: 1, lastError: null });
    s.upsertReplica({ deployment: 'a-v1', idx: 0, pid: 6, state: 'ready', restarts: 1, startedAt: 2, lastError: 'x' });
    expect(s.listReplicas('a-v1')).toEqual([{ deployment: 'a-v1', idx: 0, pid: 6, state: 'ready', restarts: 1, startedAt: 2, lastError: 'x', gpu: null }]);
    s.deleteDeployment('a-v1');
    expect(s.listEndpoints()).toEqual([]);
    expect(s.listReplicas()).toEqual([]);
  });

  it('returns the latest events in order, filtered by subject and its children', () => {
    let t = 0;
    const s = new Store(dbFile(), () => ++t);
    s.addEvent('deployed', 'a-v1', 'one');
    s.addEvent('replica-ready', 'a-v1/0', 'two', { loadMs: 5 });
    s.addEvent('deployed', 'b-v1', 'three');
    expect(s.listEvents({ subject: 'a-v1' }).map((e) => e.message)).toEqual(['one', 'two']);
    expect(s.listEvents({ limit: 2 }).map((e) => e.message)).toEqual(['two', 'three']);
    expect(s.listEvents({ subject: 'a-v1/0' })[0].data).toEqual({ loadMs: 5 });
  });
});
