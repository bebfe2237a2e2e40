/** Rows as the platform sees them; JSON columns already parsed. */

export interface TokenRow {
  id: string
  name: string
  hash: string
  created_at: string
}

export interface MacaroonRow {
  id: string
  parent_id: string | null
  description: string
  /** JSON: the token's caveats when minted (parent's first). */
  caveats: string
  created_at: string
  last_used_at: string | null
  revoked_at: string | null
}

export interface AppRow {
  id: string
  name: string
  org_slug: string
  network: string
  created_at: string
}

export interface MachineRow {
  id: string
  app_name: string
  name: string
  state: string
  region: string
  instance_id: string
  config: Record<string, unknown>
  image_ref: Record<string, unknown>
  private_ip: string | null
  private_ip6: string | null
  restart_count: number
  /** The app secrets version the machine was given at its create or last update (null: skip_secrets). */
  secrets_version: number | null
  created_at: string
  updated_at: string
}

/** One change to one app secret: `value` is sealed (secrets-crypto.ts); null marks an unset. */
export interface SecretRow {
  app_name: string
  name: string
  version: number
  value: Uint8Array | null
  digest: string | null
  /** When the name was first set (carried across versions). */
  created_at: string
  /** When this version was written. */
  updated_at: string
}

export interface EventRow {
  seq: number
  id: string
  machine_id: string
  type: string
  status: string
  source: string
  timestamp: number
  request: Record<string, unknown> | null
}

export interface LeaseRow {
  machine_id: string
  nonce: string
  owner: string
  description: string
  expires_at: number
  version: string
}

export interface IdempotencyRow {
  /** What the key was used for, e.g. "machines.create:myapp". */
  scope: string
  key: string
  /** Hash of the request, so a key reused for a different request is refused. */
  fingerprint: string
  /** The first result, JSON. */
  result: string
  created_at: string
}

export interface CheckpointRow {
  machine_id: string
  /** "v1", "v2"…: numbered per machine, never reused. */
  id: string
  /** The frozen disk's name in the runtime (Driver.checkpoints). */
  key: string
  create_time: string
  comment: string
  /** The checkpoint the machine's disk descended from when this was taken ("v2", or "<machine>/v2" for another machine's); null if none. */
  source_id: string | null
  size_bytes: number
}

export interface VolumeRow {
  id: string
  app_name: string
  name: string
  size_gb: number
  region: string
  /** 0 or 1 (SQLite). */
  encrypted: number
  snapshot_retention: number
  auto_backup_enabled: number
  /** The machine mounting it; a destroyed machine no longer holds it. */
  attached_machine_id: string | null
  created_at: string
}

export interface VolumeSnapshotRow {
  id: string
  volume_id: string
  created_at: string
  /** Bytes the snapshot holds. */
  size: number
  digest: string
  /** The volume's size when taken, in bytes (a volume made from it gets at least this much). */
  volume_size: number
}

export interface MachineFilter {
  app: string
  includeDestroyed?: boolean
  states?: string[]
}

/** The state database. Every method is synchronous: SQLite embedded answers in microseconds. */
export interface Store {
  tokens: {
    insert(row: TokenRow): void
    byHash(hash: string): TokenRow | undefined
    count(): number
  }
  macaroons: {
    insert(row: MacaroonRow): void
    get(id: string): MacaroonRow | undefined
    /** Every row, oldest first. */
    list(): MacaroonRow[]
    /** `id` and every token minted from it, transitively. */
    descendants(id: string): MacaroonRow[]
    /** Marks `id` and its descendants revoked; returns how many rows changed. */
    revoke(id: string, at: string): number
    touch(id: string, at: string): void
  }
  apps: {
    insert(row: AppRow): void
    get(name: string): AppRow | undefined
    /** The app's egress rules as JSON, if it has any. */
    networkPolicy(name: string): { rules: string; updated_at: string } | undefined
    setNetworkPolicy(name: string, rules: string, updatedAt: string): void
    /** Every app's rules, for pushing to the runtime at start. */
    networkPolicies(): { app_name: string; rules: string }[]
    list(org?: string): AppRow[]
    /** Deletes the app and records when (RFC 3339): a token naming it must not reach a new app given the name. */
    delete(name: string, at: string): void
    /** When an app of this name was last deleted, if ever. */
    deletedAt(name: string): string | undefined
  }
  machines: {
    insert(row: MachineRow): void
    get(id: string): MachineRow | undefined
    list(filter: MachineFilter): MachineRow[]
    /** Every machine not destroyed, across apps: what the daemon reconciles at boot. */
    live(): MachineRow[]
    update(id: string, patch: Partial<Omit<MachineRow, 'id' | 'app_name' | 'created_at'>>): MachineRow
    nameTaken(app: string, name: string): boolean
    countByApp(app: string): number
  }
  versions: {
    insert(machineId: string, version: string, config: Record<string, unknown>, createdAt: string): void
    list(machineId: string): { version: string; config: Record<string, unknown>; created_at: string }[]
  }
  checkpoints: {
    insert(row: CheckpointRow): void
    get(machineId: string, id: string): CheckpointRow | undefined
    /** Oldest first. */
    list(machineId: string): CheckpointRow[]
    delete(machineId: string, id: string): void
    /** Every key recorded, for sweeping the runtime's unrecorded ones. */
    keys(): string[]
    /** Takes the machine's next checkpoint number. */
    nextNumber(machineId: string): number
    /** The volume snapshots taken with a checkpoint. */
    volumes(machineId: string, id: string): { volume_id: string; snapshot_id: string }[]
    addVolume(machineId: string, id: string, volumeId: string, snapshotId: string): void
    /** The checkpoint the machine's disk descends from. */
    source(machineId: string): string | null
    setSource(machineId: string, sourceId: string | null): void
  }
  volumes: {
    insert(row: VolumeRow): void
    get(id: string): VolumeRow | undefined
    list(app: string): VolumeRow[]
    update(id: string, patch: Partial<Pick<VolumeRow, 'size_gb' | 'snapshot_retention' | 'auto_backup_enabled' | 'attached_machine_id'>>): VolumeRow
    /** Frees every volume the machine holds (it was destroyed). */
    detachMachine(machineId: string): void
    delete(id: string): void
    ids(): string[]
    insertSnapshot(row: VolumeSnapshotRow): void
    /** Oldest first. */
    snapshots(volumeId: string): VolumeSnapshotRow[]
    snapshot(id: string): VolumeSnapshotRow | undefined
    deleteSnapshot(id: string): void
    snapshotIds(): string[]
  }
  secrets: {
    /** The app's secrets version: 0 until its first change. */
    version(app: string): number
    /** Takes the app's next version, for the change being written (call inside tx). */
    nextVersion(app: string): number
    insert(row: SecretRow): void
    /** Each name's newest row at or below `version`, unsets included, by name. */
    at(app: string, version: number): SecretRow[]
    /** Deletes the rows no machine bound at `floor` or later can need; returns how many. */
    prune(app: string, floor: number): number
    /** Rows in the whole store (the daemon checks its key against them at start). */
    count(): number
    /** One stored row, for checking the key opens it. */
    any(): SecretRow | undefined
  }
  events: {
    insert(row: Omit<EventRow, 'seq'>): EventRow
    list(machineId: string, limit: number): EventRow[]
  }
  leases: {
    get(machineId: string): LeaseRow | undefined
    put(row: LeaseRow): void
    delete(machineId: string): void
  }
  idempotency: {
    get(scope: string, key: string): IdempotencyRow | undefined
    put(row: IdempotencyRow): void
    /** Forgets keys created before `before` (RFC 3339). */
    prune(before: string): void
  }
  /** Runs fn in one transaction: all of it lands or none. */
  tx<T>(fn: () => T): T
  close(): void
}
