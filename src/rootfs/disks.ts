/**
 * Each machine's disk: its overlay upper and work dirs in a btrfs subvolume of
 * its own on the machines filesystem, with a qgroup limit nothing inside can
 * pass (writes fail with EDQUOT, "Disk quota exceeded"); inodes cost metadata
 * bytes under the same limit, so a machine cannot exhaust anyone's inodes.
 *
 * Limits are reservations: the limits of all machines together stay within the
 * filesystem's size (times `overcommit`), so a machine that fills its disk
 * leaves every other machine its whole disk. A limit is recorded beside the
 * machine (`disk-limit`) and read back at startup.
 *
 *   const disks = await Disks.load({ layout, fs, defaultBytes: 4 * 2 ** 30, overcommit: 1 })
 *   const bytes = disks.admit(id, spec.diskBytes)   // throws, naming the limit, before anything is made
 *   await disks.create(id, bytes)
 */
import { existsSync, statSync } from 'node:fs'
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HangarError } from '../errors.ts'
import { createSubvolume, deleteSubvolume, limitSubvolume, snapshotSubvolume, subvolumeUsage, type Usage } from './btrfs.ts'
import { GiB, gb, type MachinesFs } from './machines-fs.ts'
import { run } from '../lib/proc.ts'

/** Where one machine's disk lives (the runtime's layout decides). */
export interface DiskPaths {
  /** The machine's own dir, where a disk from before the machines filesystem kept its upper. */
  dir: string
  /** The disk: a subvolume with quotas, else the machine dir itself. */
  disk: string
  upper: string
  work: string
  /** The disk's limit in bytes, as text. */
  diskLimit: string
}

export interface DisksOptions {
  layout: { machinesDir: string; machine(id: string): DiskPaths }
  fs: MachinesFs
  /** The limit of a machine that asks for none. */
  defaultBytes: number
  /** How far the limits together may exceed the filesystem's size: 1 = never (no machine can fill another's disk). */
  overcommit: number
  logger?: { warn: (obj: object, msg: string) => void }
}

/** The root directory of every btrfs subvolume has this inode number. */
const SUBVOLUME_INO = 256

export class Disks {
  #o: DisksOptions
  /** Machine id → its limit, for every machine on disk. */
  #limits = new Map<string, number>()

  private constructor(o: DisksOptions) {
    this.#o = o
  }

  static async load(o: DisksOptions): Promise<Disks> {
    const disks = new Disks(o)
    for (const id of await readdir(o.layout.machinesDir).catch(() => [] as string[])) {
      const limit = await readLimit(o.layout.machine(id).diskLimit)
      if (limit !== null) disks.#limits.set(id, limit)
      await disks.recover(id)
    }
    return disks
  }

  get quota(): boolean {
    return this.#o.fs.quota
  }

  /** The limit a machine gets for `requested` bytes (default when undefined); throws when it cannot have it. */
  admit(id: string, requested: number | undefined): number {
    if (!this.quota) {
      if (requested !== undefined) {
        throw new HangarError('disk_quota_unsupported', 'this host enforces no disk quotas (the daemon runs with --machines-fs none), so config.rootfs.size_gb cannot be honoured')
      }
      return 0
    }
    const bytes = requested ?? this.#o.defaultBytes
    const capacity = this.#o.fs.capacity()
    const what = requested === undefined ? `the default rootfs size (${gb(bytes)}, --rootfs-size)` : `a rootfs of ${gb(bytes)}`
    if (bytes > capacity) {
      throw new HangarError('rootfs_too_large', `${what} is larger than this host's machines filesystem (${gb(capacity)})`, {
        hint: `ask for at most ${Math.floor(capacity / GiB)} GB in config.rootfs.size_gb, or give the host a larger machines filesystem (--machines-fs-size, --machines-fs)`,
        details: { requested_bytes: bytes, limit_bytes: capacity },
      })
    }
    const room = Math.floor(capacity * this.#o.overcommit) - this.#reservedBy(id)
    if (bytes > room) {
      throw new HangarError('rootfs_no_room', `${what} does not fit: the other machines on this host hold ${gb(this.#reservedBy(id))} of the ${gb(capacity * this.#o.overcommit)} its machines filesystem gives out, ${gb(Math.max(0, room))} is left`, {
        details: { requested_bytes: bytes, available_bytes: Math.max(0, room) },
      })
    }
    return bytes
  }

  /**
   * The machines filesystem's room as `key` sees it: its size, what it gives out in all (its size
   * times the overcommit), and what is left with every reservation but `key`'s own counted.
   * Volumes (volumes.ts) reserve in this same ledger, under their ids.
   */
  room(key: string): { capacity: number; total: number; available: number } {
    const capacity = this.#o.fs.capacity()
    const total = Math.floor(capacity * this.#o.overcommit)
    return { capacity, total, available: Math.max(0, total - this.#reservedBy(key)) }
  }

  /** Reserves `bytes` for `key` (a volume), replacing what it held; the caller checked `room` in the same tick. */
  hold(key: string, bytes: number): void {
    this.#limits.set(key, bytes)
  }

  release(key: string): void {
    this.#limits.delete(key)
  }

  /** What every machine but `id` has reserved. */
  #reservedBy(id: string): number {
    let sum = 0
    for (const [other, bytes] of this.#limits) if (other !== id) sum += bytes
    return sum
  }

  paths(id: string): DiskPaths {
    return this.#o.layout.machine(id)
  }

  /**
   * Makes the machine's disk with its limit (admit first), empty or as a copy of a frozen disk
   * (`seed`, a checkpoint: a snapshot, O(1), with quotas). Reserved at once, so concurrent creates
   * cannot both take the last room.
   */
  async create(id: string, bytes: number, seed?: string): Promise<void> {
    const paths = this.#o.layout.machine(id)
    if (this.quota) {
      this.admit(id, bytes)
      this.#limits.set(id, bytes)
      await writeFile(paths.diskLimit, String(bytes))
      if (seed) await snapshotSubvolume(seed, paths.disk, { readOnly: false })
      else await createSubvolume(paths.disk)
      await limitSubvolume(paths.disk, bytes)
      if (seed) return
    } else if (seed) {
      await copyTree(join(seed, 'upper'), paths.upper)
      await mkdir(paths.work)
      return
    }
    for (const d of [paths.upper, paths.work]) await mkdir(d)
  }

  /**
   * Replaces a machine's disk by a copy of a frozen one, its limit kept. The overlay must be
   * unmounted. Crash-safe: the copy is made beside the disk and renamed over it; `recover`
   * finishes a swap a crash cut short.
   */
  async replace(id: string, seed: string): Promise<void> {
    const paths = this.#o.layout.machine(id)
    const [target, made] = this.quota ? [paths.disk, `${paths.disk}.new`] : [paths.upper, `${paths.upper}.new`]
    await this.recover(id)
    if (this.quota) {
      await snapshotSubvolume(seed, made, { readOnly: false })
      const limit = this.#limits.get(id)
      if (limit) await limitSubvolume(made, limit)
    } else {
      await copyTree(join(seed, 'upper'), made)
    }
    await rename(target, `${target}.old`)
    await rename(made, target)
    // The old disk goes in the background: with quotas, deleting gigabytes takes a while.
    await this.discard(`${target}.old`)
    // Overlay's scratch dir belongs to the old upper.
    if (!this.quota) {
      await rm(paths.work, { recursive: true, force: true })
      await mkdir(paths.work)
    }
  }

  /**
   * Deletes a replaced disk, a checkpoint or a snapshot without waiting for the commit: with
   * quotas, a delete that waits costs hundreds of milliseconds for gigabytes (210 ms for 2 GB
   * here; the qgroup accounting walks the extents), one that does not ~10 ms, the kernel's
   * cleaner doing the rest. A host crash before the commit can bring one back: the sweeps at
   * start (and `recover`) delete it again.
   */
  async discard(path: string): Promise<void> {
    if (this.quota && statSync(path).ino === SUBVOLUME_INO) await deleteSubvolume(path, { commit: false })
    else await rm(path, { recursive: true, force: true })
  }

  /** Finishes a `replace` a crash interrupted: the new disk in place, the old one gone. */
  async recover(id: string): Promise<void> {
    const paths = this.#o.layout.machine(id)
    const target = this.quota ? paths.disk : paths.upper
    if (!existsSync(target) && existsSync(`${target}.new`)) await rename(`${target}.new`, target)
    for (const leftover of [`${target}.old`, `${target}.new`]) {
      if (existsSync(leftover)) await this.#removeTree(leftover)
    }
  }

  async #removeTree(path: string): Promise<void> {
    if (this.quota && statSync(path).ino === SUBVOLUME_INO) await deleteSubvolume(path)
    else await rm(path, { recursive: true, force: true })
  }

  /** A new limit for a machine that is not running; refused below what it already holds. */
  async resize(id: string, requested: number | undefined): Promise<void> {
    const bytes = this.admit(id, requested)
    if (!this.quota || bytes === this.#limits.get(id)) return
    const paths = this.#o.layout.machine(id)
    const { used } = await subvolumeUsage(paths.disk)
    if (used > bytes) {
      throw new HangarError('out_of_range', `machine ${id} already holds ${gb(used)} on its disk, more than a rootfs of ${gb(bytes)}`, {
        hint: `ask for at least ${Math.ceil(used / GiB)} GB, or delete files in the machine first`,
      })
    }
    await limitSubvolume(paths.disk, bytes)
    this.#limits.set(id, bytes)
    await writeFile(paths.diskLimit, String(bytes))
  }

  /** Whether the disk is in place: one stat on the start path. */
  present(id: string): boolean {
    return existsSync(this.#o.layout.machine(id).upper)
  }

  /**
   * Moves the disk of a machine from before the machines filesystem (its upper in its machine dir)
   * onto a disk of its own, its limit the default or what it holds, whichever is more. The overlay
   * must be unmounted. A disk missing otherwise is an error, never silently an empty one.
   */
  async restore(id: string): Promise<void> {
    const paths = this.#o.layout.machine(id)
    const legacy = join(paths.dir, 'upper')
    if (!existsSync(legacy) || paths.disk === paths.dir) {
      throw new HangarError('runtime_error', `machine ${id}'s disk is missing: ${paths.upper} does not exist`, {
        hint: 'was the daemon started with another --machines-fs than the one the machine was made on? Start it with that one again',
      })
    }
    await this.remove(id)
    const { stdout } = await run('du', ['-sb', legacy], { step: 'du the old upper' })
    // A quarter more than it holds: room for what btrfs counts beyond the bytes du sees.
    const held = Math.ceil((Number.parseInt(stdout, 10) * 1.25) / 2 ** 20) * 2 ** 20
    await this.create(id, this.admit(id, Math.max(held, this.#o.defaultBytes)))
    await run('cp', ['-a', `${legacy}/.`, paths.upper], { step: 'copy the machine disk onto the machines filesystem' })
    await rm(legacy, { recursive: true, force: true })
    await rm(join(paths.dir, 'work'), { recursive: true, force: true })
    this.#o.logger?.warn({ machine: id, limit: this.#limits.get(id) }, 'machine disk moved onto the machines filesystem')
  }

  /** Removes the disk and frees its reservation. Idempotent. */
  async remove(id: string): Promise<void> {
    const paths = this.#o.layout.machine(id)
    let ino: number | null = null
    try {
      ino = statSync(paths.disk).ino
    } catch {
      // never made
    }
    if (ino === SUBVOLUME_INO && this.quota) {
      await deleteSubvolume(paths.disk).catch(async (e: unknown) => {
        // Teardown must not stick: empty it instead (an empty subvolume goes with rmdir).
        this.#o.logger?.warn({ machine: id, err: String(e) }, 'btrfs subvolume delete failed; removing the files')
        await rm(paths.disk, { recursive: true, force: true })
      })
    } else if (ino !== null) {
      // Without a machines filesystem the disk is the machine dir, whose other files teardown still needs.
      for (const d of paths.disk === paths.dir ? [paths.upper, paths.work] : [paths.disk]) await rm(d, { recursive: true, force: true })
    }
    this.#limits.delete(id)
  }

  /** Bytes the machine's disk holds and its limit (null without quotas). */
  usage(id: string): Promise<Usage> {
    return subvolumeUsage(this.#o.layout.machine(id).disk)
  }
}

async function readLimit(file: string): Promise<number | null> {
  const text = await readFile(file, 'utf8').catch(() => null)
  const n = text === null ? NaN : Number(text.trim())
  return Number.isSafeInteger(n) && n > 0 ? n : null
}

/** A copy keeping owners, modes, links and xattrs (overlay's own included); shares extents where the filesystem can. */
export async function copyTree(from: string, to: string): Promise<void> {
  await run('cp', ['-a', '--reflink=auto', from, to], { step: 'copy a disk' })
}
