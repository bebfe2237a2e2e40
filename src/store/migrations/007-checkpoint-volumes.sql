-- The volume snapshots a checkpoint took at the same instant as the machine's disk: each is
-- also an ordinary snapshot of its volume (vs_…, in volume_snapshots), removed with the
-- checkpoint. A volume destroyed since leaves its link without a snapshot: restore skips it.
CREATE TABLE checkpoint_volumes (
  machine_id TEXT NOT NULL,
  checkpoint_id TEXT NOT NULL,
  volume_id TEXT NOT NULL,
  snapshot_id TEXT NOT NULL UNIQUE,
  PRIMARY KEY (machine_id, checkpoint_id, volume_id),
  FOREIGN KEY (machine_id, checkpoint_id) REFERENCES checkpoints(machine_id, id) ON DELETE CASCADE
);
