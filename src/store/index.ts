/**
 * Hangar's state database: apps, machines, events, leases, tokens, app secrets (sealed).
 *   const store = openStore({ path: '/var/lib/hangar/hangar.db' })
 *   store.machines.get(id)
 */
import { openSqliteStore } from './sqlite.ts'
import type { Store } from './types.ts'

export type { Store, AppRow, CheckpointRow, MachineRow, EventRow, LeaseRow, MacaroonRow, TokenRow, MachineFilter, IdempotencyRow, SecretRow, VolumeRow, VolumeSnapshotRow } from './types.ts'

export function openStore(opts: { path: string }): Store {
  return openSqliteStore(opts.path)
}
