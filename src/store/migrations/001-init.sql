CREATE TABLE tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL
);

CREATE TABLE apps (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  org_slug TEXT NOT NULL,
  network TEXT NOT NULL,
  created_at TEXT NOT NULL
);

CREATE TABLE machines (
  id TEXT PRIMARY KEY,
  app_name TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
  name TEXT NOT NULL,
  state TEXT NOT NULL,
  region TEXT NOT NULL,
  instance_id TEXT NOT NULL,
  config TEXT NOT NULL,
  image_ref TEXT NOT NULL,
  private_ip TEXT,
  private_ip6 TEXT,
  restart_count INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
-- A destroyed machine's name is free again.
CREATE UNIQUE INDEX machines_live_name ON machines(app_name, name) WHERE state != 'destroyed';
CREATE INDEX machines_app ON machines(app_name);

CREATE TABLE machine_versions (
  machine_id TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
  version TEXT NOT NULL,
  config TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (machine_id, version)
);

CREATE TABLE machine_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL,
  machine_id TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
  type TEXT NOT NULL,
  status TEXT NOT NULL,
  source TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  request TEXT
);
CREATE INDEX machine_events_machine ON machine_events(machine_id, seq);

CREATE TABLE leases (
  machine_id TEXT PRIMARY KEY REFERENCES machines(id) ON DELETE CASCADE,
  nonce TEXT NOT NULL,
  owner TEXT NOT NULL,
  description TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  version TEXT NOT NULL
);
