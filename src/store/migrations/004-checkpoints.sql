-- Checkpoints of machines' disks (Sprites' shape: "v1", "v2"… per machine).
-- `key` names the frozen disk in the runtime; a key the runtime holds that no
-- row names is what a crash left behind, and is swept at start.
CREATE TABLE checkpoints (
  machine_id TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
  id TEXT NOT NULL,
  key TEXT NOT NULL UNIQUE,
  create_time TEXT NOT NULL,
  comment TEXT NOT NULL DEFAULT '',
  source_id TEXT,
  size_bytes INTEGER NOT NULL,
  PRIMARY KEY (machine_id, id)
);
-- Per machine: the next checkpoint number (never reused, so "v3" always means one disk),
-- and the checkpoint its disk descends from (restored or forked), the source of the next.
CREATE TABLE machine_disks (
  machine_id TEXT PRIMARY KEY REFERENCES machines(id) ON DELETE CASCADE,
  next_checkpoint INTEGER NOT NULL DEFAULT 1,
  source_id TEXT
);
