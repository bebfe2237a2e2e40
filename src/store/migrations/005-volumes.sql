-- Volumes in Fly's shape ("vol_…"), each a sized filesystem in the runtime (Driver.volumes)
-- that outlives machines. A row is written only once the runtime made the volume, and removed
-- only after the runtime deleted it; `attached_machine_id` names the one machine mounting it
-- (a machine since destroyed no longer holds it).
CREATE TABLE volumes (
  id TEXT PRIMARY KEY,
  app_name TEXT NOT NULL REFERENCES apps(name),
  name TEXT NOT NULL,
  size_gb INTEGER NOT NULL,
  region TEXT NOT NULL,
  encrypted INTEGER NOT NULL DEFAULT 0,
  snapshot_retention INTEGER NOT NULL,
  auto_backup_enabled INTEGER NOT NULL,
  attached_machine_id TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX volumes_by_app ON volumes(app_name);
-- Read-only snapshots of a volume ("vs_…"), oldest first; they go with their volume.
CREATE TABLE volume_snapshots (
  id TEXT PRIMARY KEY,
  volume_id TEXT NOT NULL REFERENCES volumes(id) ON DELETE CASCADE,
  created_at TEXT NOT NULL,
  size INTEGER NOT NULL,
  digest TEXT NOT NULL,
  volume_size INTEGER NOT NULL
);
