/**
 * The embedded store: SQLite through node:sqlite, WAL mode so a kill -9 at any
 * moment leaves the last committed transaction intact. On a full disk a write
 * throws disk_full and its transaction rolls back; reads go on working.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { HangarError, isDiskFull, isHangarError } from '../errors.ts'
import type { AppRow, CheckpointRow, EventRow, IdempotencyRow, LeaseRow, MacaroonRow, MachineFilter, MachineRow, SecretRow, Store, TokenRow, VolumeRow, VolumeSnapshotRow } from './types.ts'

const migrationsDir = new URL('./migrations/', import.meta.url)

function migrate(db: DatabaseSync): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)')
  const done = new Set((db.prepare('SELECT name FROM schema_migrations').all() as { name: string }[]).map((r) => r.name))
  for (const file of readdirSync(migrationsDir).filter((f) => f.endsWith('.sql')).sort()) {
    if (done.has(file)) continue
    db.exec('BEGIN')
    try {
      db.exec(readFileSync(new URL(file, migrationsDir), 'utf8'))
      db.prepare('INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)').run(file, new Date().toISOString())
      db.exec('COMMIT')
    } catch (e) {
      db.exec('ROLLBACK')
      throw e
    }
  }
}

/** A token and everything minted from it, transitively (bind the root id). */
const descendantsSql = 'WITH RECURSIVE tree(id) AS (SELECT id FROM macaroons WHERE id = ? UNION SELECT m.id FROM macaroons m JOIN tree ON m.parent_id = tree.id)'

const json = (v: unknown): string => JSON.stringify(v)

function machineFromRow(r: Record<string, unknown>): MachineRow {
  return { ...(r as unknown as MachineRow), config: JSON.parse(r.config as string), image_ref: JSON.parse(r.image_ref as string) }
}

function eventFromRow(r: Record<string, unknown>): EventRow {
  return { ...(r as unknown as EventRow), request: r.request ? JSON.parse(r.request as string) : null }
}

/** Every method of each table group (and tx) turns a full disk into disk_full naming where to free space. */
function guardDiskFull(store: Store, path: string): Store {
  const dir = dirname(path)
  const wrap = <F extends (...args: never[]) => unknown>(fn: F): F =>
    ((...args: Parameters<F>) => {
      try {
        return fn(...args)
      } catch (e) {
        if (!isDiskFull(e) || isHangarError(e)) throw e
        throw new HangarError('disk_full', `the state database ${path} could not be written: the disk is full`, {
          hint: `free space on the filesystem holding ${dir} (df ${dir}); Hangar carries on by itself once there is room`,
          cause: e,
        })
      }
    }) as F
  const out: Record<string, unknown> = {}
  for (const [name, group] of Object.entries(store)) {
    out[name] = typeof group === 'function'
      ? wrap(group as (...args: never[]) => unknown)
      : Object.fromEntries(Object.entries(group as object).map(([k, fn]) => [k, wrap(fn as (...args: never[]) => unknown)]))
  }
  return out as unknown as Store
}

export function openSqliteStore(path: string): Store {
  const db = new DatabaseSync(path)
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000')
  migrate(db)
  const cache = new Map<string, StatementSync>()
  const q = (sql: string): StatementSync => {
    let s = cache.get(sql)
    if (!s) cache.set(sql, (s = db.prepare(sql)))
    return s
  }
  let depth = 0

  const store: Store = {
    tokens: {
      insert: (t: TokenRow) => void q('INSERT INTO tokens (id, name, hash, created_at) VALUES (?, ?, ?, ?)').run(t.id, t.name, t.hash, t.created_at),
      byHash: (hash) => q('SELECT * FROM tokens WHERE hash = ?').get(hash) as TokenRow | undefined,
      count: () => (q('SELECT count(*) AS n FROM tokens').get() as { n: number }).n,
    },
    macaroons: {
      insert: (m: MacaroonRow) => void q('INSERT INTO macaroons (id, parent_id, description, caveats, created_at, last_used_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(m.id, m.parent_id, m.description, m.caveats, m.created_at, m.last_used_at, m.revoked_at),
      get: (id) => q('SELECT * FROM macaroons WHERE id = ?').get(id) as MacaroonRow | undefined,
      list: () => q('SELECT * FROM macaroons ORDER BY created_at, id').all() as unknown as MacaroonRow[],
      descendants: (id) => q(descendantsSql + ' SELECT m.* FROM macaroons m JOIN tree t ON m.id = t.id ORDER BY m.created_at, m.id').all(id) as unknown as MacaroonRow[],
      revoke: (id, at) => Number(q(descendantsSql + ' UPDATE macaroons SET revoked_at = ? WHERE id IN (SELECT id FROM tree) AND revoked_at IS NULL').run(id, at).changes),
      touch: (id, at) => void q('UPDATE macaroons SET last_used_at = ? WHERE id = ?').run(at, id),
    },
    apps: {
      insert: (a: AppRow) => void q('INSERT INTO apps (id, name, org_slug, network, created_at) VALUES (?, ?, ?, ?, ?)').run(a.id, a.name, a.org_slug, a.network, a.created_at),
      get: (name) => q('SELECT * FROM apps WHERE name = ?').get(name) as AppRow | undefined,
      list: (org) => (org ? q('SELECT * FROM apps WHERE org_slug = ? ORDER BY name').all(org) : q('SELECT * FROM apps ORDER BY name').all()) as unknown as AppRow[],
      delete: (name, at) => {
        q('DELETE FROM apps WHERE name = ?').run(name)
        q('INSERT INTO app_deletions (name, deleted_at) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET deleted_at = excluded.deleted_at').run(name, at)
      },
      deletedAt: (name) => (q('SELECT deleted_at FROM app_deletions WHERE name = ?').get(name) as { deleted_at: string } | undefined)?.deleted_at,
      networkPolicy: (name) => q('SELECT rules, updated_at FROM app_network_policies WHERE app_name = ?').get(name) as { rules: string; updated_at: string } | undefined,
      setNetworkPolicy: (name, rules, at) =>
        void q('INSERT INTO app_network_policies (app_name, rules, updated_at) VALUES (?, ?, ?) ON CONFLICT(app_name) DO UPDATE SET rules = excluded.rules, updated_at = excluded.updated_at').run(name, rules, at),
      networkPolicies: () => q('SELECT app_name, rules FROM app_network_policies').all() as unknown as { app_name: string; rules: string }[],
    },
    checkpoints: {
      insert: (c: CheckpointRow) =>
        void q('INSERT INTO checkpoints (machine_id, id, key, create_time, comment, source_id, size_bytes) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
          c.machine_id, c.id, c.key, c.create_time, c.comment, c.source_id, c.size_bytes),
      get: (machineId, id) => q('SELECT * FROM checkpoints WHERE machine_id = ? AND id = ?').get(machineId, id) as CheckpointRow | undefined,
      list: (machineId) => q('SELECT * FROM checkpoints WHERE machine_id = ? ORDER BY create_time, rowid').all(machineId) as unknown as CheckpointRow[],
      delete: (machineId, id) => void q('DELETE FROM checkpoints WHERE machine_id = ? AND id = ?').run(machineId, id),
      keys: () => (q('SELECT key FROM checkpoints').all() as { key: string }[]).map((r) => r.key),
      nextNumber: (machineId) => {
        const r = q(`INSERT INTO machine_disks (machine_id, next_checkpoint) VALUES (?, 2)
                     ON CONFLICT(machine_id) DO UPDATE SET next_checkpoint = next_checkpoint + 1 RETURNING next_checkpoint`).get(machineId) as { next_checkpoint: number }
        return r.next_checkpoint - 1
      },
      volumes: (machineId, id) =>
        q('SELECT volume_id, snapshot_id FROM checkpoint_volumes WHERE machine_id = ? AND checkpoint_id = ? ORDER BY volume_id').all(machineId, id) as unknown as { volume_id: string; snapshot_id: string }[],
      addVolume: (machineId, id, volumeId, snapshotId) =>
        void q('INSERT INTO checkpoint_volumes (machine_id, checkpoint_id, volume_id, snapshot_id) VALUES (?, ?, ?, ?)').run(machineId, id, volumeId, snapshotId),
      source: (machineId) => (q('SELECT source_id FROM machine_disks WHERE machine_id = ?').get(machineId) as { source_id: string | null } | undefined)?.source_id ?? null,
      setSource: (machineId, sourceId) =>
        void q('INSERT INTO machine_disks (machine_id, source_id) VALUES (?, ?) ON CONFLICT(machine_id) DO UPDATE SET source_id = excluded.source_id').run(machineId, sourceId),
    },
    volumes: {
      insert: (v: VolumeRow) =>
        void q(`INSERT INTO volumes (id, app_name, name, size_gb, region, encrypted, snapshot_retention, auto_backup_enabled, attached_machine_id, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
          v.id, v.app_name, v.name, v.size_gb, v.region, v.encrypted, v.snapshot_retention, v.auto_backup_enabled, v.attached_machine_id, v.created_at),
      get: (id) => q('SELECT * FROM volumes WHERE id = ?').get(id) as VolumeRow | undefined,
      list: (app) => q('SELECT * FROM volumes WHERE app_name = ? ORDER BY created_at, id').all(app) as unknown as VolumeRow[],
      update: (id, patch) => {
        const cols = Object.keys(patch) as (keyof typeof patch)[]
        if (cols.length) q(`UPDATE volumes SET ${cols.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`).run(...cols.map((c) => patch[c] as string | number | null), id)
        return q('SELECT * FROM volumes WHERE id = ?').get(id) as unknown as VolumeRow
      },
      detachMachine: (machineId) => void q('UPDATE volumes SET attached_machine_id = NULL WHERE attached_machine_id = ?').run(machineId),
      delete: (id) => void q('DELETE FROM volumes WHERE id = ?').run(id),
      ids: () => (q('SELECT id FROM volumes').all() as { id: string }[]).map((r) => r.id),
      insertSnapshot: (s: VolumeSnapshotRow) =>
        void q('INSERT INTO volume_snapshots (id, volume_id, created_at, size, digest, volume_size) VALUES (?, ?, ?, ?, ?, ?)').run(
          s.id, s.volume_id, s.created_at, s.size, s.digest, s.volume_size),
      snapshots: (volumeId) => q('SELECT * FROM volume_snapshots WHERE volume_id = ? ORDER BY created_at, rowid').all(volumeId) as unknown as VolumeSnapshotRow[],
      snapshot: (id) => q('SELECT * FROM volume_snapshots WHERE id = ?').get(id) as VolumeSnapshotRow | undefined,
      deleteSnapshot: (id) => void q('DELETE FROM volume_snapshots WHERE id = ?').run(id),
      snapshotIds: () => (q('SELECT id FROM volume_snapshots').all() as { id: string }[]).map((r) => r.id),
    },
    machines: {
      insert: (m: MachineRow) =>
        void q(`INSERT INTO machines (id, app_name, name, state, region, instance_id, config, image_ref, private_ip, private_ip6, restart_count, secrets_version, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
          m.id, m.app_name, m.name, m.state, m.region, m.instance_id, json(m.config), json(m.image_ref), m.private_ip, m.private_ip6, m.restart_count, m.secrets_version, m.created_at, m.updated_at),
      get: (id) => {
        const r = q('SELECT * FROM machines WHERE id = ?').get(id)
        return r ? machineFromRow(r) : undefined
      },
      list: (f: MachineFilter) => {
        const rows = q(`SELECT * FROM machines WHERE app_name = ? ${f.includeDestroyed ? '' : "AND state != 'destroyed'"} ORDER BY created_at, id`).all(f.app)
        const all = rows.map(machineFromRow)
        return f.states?.length ? all.filter((m) => f.states!.includes(m.state)) : all
      },
      live: () => q("SELECT * FROM machines WHERE state != 'destroyed'").all().map(machineFromRow),
      update: (id, patch) => {
        const cols = Object.keys(patch) as (keyof typeof patch)[]
        if (cols.length) {
          const values = cols.map((c) => (c === 'config' || c === 'image_ref' ? json(patch[c]) : patch[c]) as string | number | null)
          q(`UPDATE machines SET ${cols.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`).run(...values, id)
        }
        return store.machines.get(id) as MachineRow
      },
      nameTaken: (app, name) => q("SELECT 1 FROM machines WHERE app_name = ? AND name = ? AND state != 'destroyed'").get(app, name) !== undefined,
      countByApp: (app) => (q("SELECT count(*) AS n FROM machines WHERE app_name = ? AND state != 'destroyed'").get(app) as { n: number }).n,
    },
    versions: {
      insert: (machineId, version, config, createdAt) =>
        void q('INSERT INTO machine_versions (machine_id, version, config, created_at) VALUES (?, ?, ?, ?)').run(machineId, version, json(config), createdAt),
      list: (machineId) =>
        (q('SELECT version, config, created_at FROM machine_versions WHERE machine_id = ? ORDER BY version DESC').all(machineId) as { version: string; config: string; created_at: string }[])
          .map((r) => ({ ...r, config: JSON.parse(r.config) })),
    },
    secrets: {
      version: (app) => (q('SELECT secrets_version FROM apps WHERE name = ?').get(app) as { secrets_version: number } | undefined)?.secrets_version ?? 0,
      nextVersion: (app) => (q('UPDATE apps SET secrets_version = secrets_version + 1 WHERE name = ? RETURNING secrets_version').get(app) as { secrets_version: number }).secrets_version,
      insert: (r: SecretRow) =>
        void q('INSERT INTO app_secrets (app_name, name, version, value, digest, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
          r.app_name, r.name, r.version, r.value, r.digest, r.created_at, r.updated_at),
      at: (app, version) =>
        q(`SELECT s.* FROM app_secrets s
           JOIN (SELECT name, MAX(version) AS v FROM app_secrets WHERE app_name = ?1 AND version <= ?2 GROUP BY name) t ON s.name = t.name AND s.version = t.v
           WHERE s.app_name = ?1 ORDER BY s.name`).all(app, version) as unknown as SecretRow[],
      prune: (app, floor) => {
        // A row a newer one at or below the floor supersedes is needed by no machine bound at the floor or later;
        // then an unset at or below the floor has nothing left to hide.
        const superseded = q(`DELETE FROM app_secrets WHERE app_name = ?1 AND EXISTS (SELECT 1 FROM app_secrets n
                               WHERE n.app_name = ?1 AND n.name = app_secrets.name AND n.version > app_secrets.version AND n.version <= ?2)`).run(app, floor).changes
        const unsets = q('DELETE FROM app_secrets WHERE app_name = ?1 AND value IS NULL AND version <= ?2').run(app, floor).changes
        return Number(superseded) + Number(unsets)
      },
      count: () => (q('SELECT count(*) AS n FROM app_secrets').get() as { n: number }).n,
      any: () => q('SELECT * FROM app_secrets WHERE value IS NOT NULL LIMIT 1').get() as SecretRow | undefined,
    },
    events: {
      insert: (e) => {
        const res = q('INSERT INTO machine_events (id, machine_id, type, status, source, timestamp, request) VALUES (?, ?, ?, ?, ?, ?, ?)')
          .run(e.id, e.machine_id, e.type, e.status, e.source, e.timestamp, e.request ? json(e.request) : null)
        return { ...e, seq: Number(res.lastInsertRowid) }
      },
      list: (machineId, limit) => q('SELECT * FROM machine_events WHERE machine_id = ? ORDER BY seq DESC LIMIT ?').all(machineId, limit).map(eventFromRow),
    },
    leases: {
      get: (machineId) => q('SELECT * FROM leases WHERE machine_id = ?').get(machineId) as LeaseRow | undefined,
      put: (l: LeaseRow) =>
        void q('INSERT OR REPLACE INTO leases (machine_id, nonce, owner, description, expires_at, version) VALUES (?, ?, ?, ?, ?, ?)')
          .run(l.machine_id, l.nonce, l.owner, l.description, l.expires_at, l.version),
      delete: (machineId) => void q('DELETE FROM leases WHERE machine_id = ?').run(machineId),
    },
    idempotency: {
      get: (scope, key) => q('SELECT * FROM idempotency_keys WHERE scope = ? AND key = ?').get(scope, key) as IdempotencyRow | undefined,
      put: (r: IdempotencyRow) =>
        void q('INSERT OR REPLACE INTO idempotency_keys (scope, key, fingerprint, result, created_at) VALUES (?, ?, ?, ?, ?)')
          .run(r.scope, r.key, r.fingerprint, r.result, r.created_at),
      prune: (before) => void q('DELETE FROM idempotency_keys WHERE created_at < ?').run(before),
    },
    tx: (fn) => {
      // Nested calls join the outer transaction.
      if (depth > 0) return fn()
      db.exec('BEGIN IMMEDIATE')
      depth++
      try {
        const out = fn()
        db.exec('COMMIT')
        return out
      } catch (e) {
        // SQLite may already have rolled back by itself (SQLITE_FULL does): a second ROLLBACK would hide e.
        if (db.isTransaction) db.exec('ROLLBACK')
        throw e
      } finally {
        depth--
      }
    },
    close: () => db.close(),
  }
  return guardDiskFull(store, path)
}
