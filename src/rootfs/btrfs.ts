/**
 * The few btrfs operations a machine's disk needs, through btrfs-progs: a
 * subvolume per machine and a qgroup limit on it. The kernel enforces the limit
 * for every writer, root on the host included, and counts metadata (so inodes)
 * in the same bytes; subvolume ids are never reused, so a destroyed machine's
 * qgroup can never limit a new one (the kernel drops it once the subvolume is
 * cleaned).
 *
 *   await createSubvolume('/var/lib/hangar/runtime/disks/machines/<id>')
 *   await limitSubvolume(path, 8 * 2 ** 30)
 *   const { used, limit } = await subvolumeUsage(path)
 */
import { statfsSync } from 'node:fs'
import { run, tryRun } from '../lib/proc.ts'

const BTRFS = 'btrfs'
/** statfs f_type of btrfs (BTRFS_SUPER_MAGIC). */
const BTRFS_MAGIC = 0x9123683e

export function isBtrfs(path: string): boolean {
  try {
    return statfsSync(path).type === BTRFS_MAGIC
  } catch {
    return false
  }
}

/** Turns qgroups on; a no-op (and quick) when they already are. */
export async function enableQuota(mountPoint: string): Promise<void> {
  if (await tryRun(BTRFS, ['qgroup', 'show', mountPoint], { step: 'btrfs qgroup show' })) return
  await run(BTRFS, ['quota', 'enable', mountPoint], { step: 'btrfs quota enable' })
}

export async function createSubvolume(path: string): Promise<void> {
  await run(BTRFS, ['subvolume', 'create', path], { step: 'btrfs subvolume create' })
}

/**
 * Deletes a subvolume and, by default, waits for the commit, so a host crash cannot bring it
 * back (the trash, which deletes again after a crash, does not need to wait).
 */
export async function deleteSubvolume(path: string, opts: { commit?: boolean } = {}): Promise<void> {
  const commit = opts.commit === false ? [] : ['--commit-after']
  await run(BTRFS, ['subvolume', 'delete', ...commit, path], { step: 'btrfs subvolume delete' })
}

/** Sets the subvolume's limit on referenced bytes (data and metadata). */
export async function limitSubvolume(path: string, bytes: number): Promise<void> {
  await run(BTRFS, ['qgroup', 'limit', String(bytes), path], { step: 'btrfs qgroup limit' })
}

export interface Usage {
  /** The subvolume's qgroup, e.g. "0/257". */
  qgroup: string
  used: number
  limit: number | null
}

/**
 * What the subvolume's qgroup holds and its limit, after a sync so the numbers are current
 * (`sync: false` for a snapshot just made: its creation committed them, and a sync would wait
 * for every other writer on the filesystem). btrfs-progs 6.2 (Debian 12) crashes on
 * `--format json` here, so this reads the raw table.
 */
export async function subvolumeUsage(path: string, opts: { sync?: boolean } = {}): Promise<Usage> {
  const sync = opts.sync === false ? [] : ['--sync']
  const { stdout } = await run(BTRFS, ['qgroup', 'show', '-r', '--raw', ...sync, '-f', path], { step: 'btrfs qgroup show' })
  const row = /^(0\/\d+)\s+(\d+)\s+\d+\s+(\d+|none)\s/m.exec(stdout)
  if (!row) throw new Error(`no qgroup for ${path} in: ${stdout.trim()}`)
  return { qgroup: row[1] as string, used: Number(row[2]), limit: row[3] === 'none' ? null : Number(row[3]) }
}

/** Every qgroup id of the filesystem (level 0), e.g. ["0/5", "0/257"]: a destroyed machine's leaves once cleaned. */
export async function qgroups(mountPoint: string): Promise<string[]> {
  const { stdout } = await run(BTRFS, ['qgroup', 'show', '--raw', mountPoint], { step: 'btrfs qgroup show' })
  return [...stdout.matchAll(/^(0\/\d+)\s/gm)].map((m) => m[1] as string)
}

/**
 * A snapshot of a subvolume: O(1) in its size, sharing every extent until one side writes. The
 * kernel flushes the source's dirty data first, so what a writer had written is in it.
 */
export async function snapshotSubvolume(source: string, dest: string, opts: { readOnly: boolean }): Promise<void> {
  await run(BTRFS, ['subvolume', 'snapshot', ...(opts.readOnly ? ['-r'] : []), source, dest], { step: 'btrfs subvolume snapshot' })
}

/** The subvolume's UUID, which names its frozen content for as long as it exists (a read-only snapshot's never changes). */
export async function subvolumeUuid(path: string): Promise<string> {
  const { stdout } = await run(BTRFS, ['subvolume', 'show', path], { step: 'btrfs subvolume show' })
  const m = /^\s*UUID:\s*([0-9a-f-]{36})\s*$/m.exec(stdout)
  if (!m) throw new Error(`no UUID for ${path} in: ${stdout.trim()}`)
  return m[1] as string
}
