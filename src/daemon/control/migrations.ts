// The store's schema as numbered migrations (schema_version records how many ran).
export const MIGRATIONS: string[] = [
  `CREATE TABLE endpoints (
     name TEXT PRIMARY KEY,
     primary_deployment TEXT NOT NULL,
     created_at INTEGER NOT NULL);
   CREATE TABLE deployments (
     name TEXT PRIMARY KEY,
     endpoint TEXT NOT NULL,
     model_uri TEXT NOT NULL,
     resolved TEXT NOT NULL,
     model_dir TEXT NOT NULL,
     model_file TEXT NOT NULL,
     signature TEXT,
     settings TEXT NOT NULL,
     state TEXT NOT NULL,
     message TEXT,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL);
   CREATE TABLE replicas (
     deployment TEXT NOT NULL,
     idx INTEGER NOT NULL,
     pid INTEGER,
     state TEXT NOT NULL,
     restarts INTEGER NOT NULL DEFAULT 0,
     started_at INTEGER,
     last_error TEXT,
     PRIMARY KEY (deployment, idx));
   CREATE TABLE events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     ts INTEGER NOT NULL,
     kind TEXT NOT NULL,
     subject TEXT NOT NULL,
     message TEXT NOT NULL,
     data TEXT);
   CREATE INDEX events_subject ON events(subject, id);`,
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  `ALTER TABLE replicas ADD COLUMN gpu TEXT;`,
  `ALTER TABLE endpoints ADD COLUMN canary_deployment TEXT;
   ALTER TABLE endpoints ADD COLUMN canary_weight REAL NOT NULL DEFAULT 0;
   ALTER TABLE endpoints ADD COLUMN canary_started_at INTEGER;`,
  `ALTER TABLE endpoints ADD COLUMN shadow_weight REAL NOT NULL DEFAULT 0;
   ALTER TABLE endpoints ADD COLUMN rollout TEXT;`,
  `ALTER TABLE endpoints ADD COLUMN next_primary TEXT;`,
  `CREATE TABLE capture (
     endpoint TEXT PRIMARY KEY,
     settings TEXT NOT NULL,
     updated_at INTEGER NOT NULL);`,
  `CREATE TABLE drift_schedule (
     endpoint TEXT PRIMARY KEY,
     settings TEXT NOT NULL,
     updated_at INTEGER NOT NULL);`,
];
