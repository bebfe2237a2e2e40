/**
 * Volumes: sized filesystems that outlive every machine. Each is a btrfs subvolume
 * `<machines fs>/volumes/<id>` with a qgroup limit equal to its size, so a full volume fails
 * writes inside (EDQUOT) and never touches the host or another machine; its size is reserved
 * in the same ledger as machines' disks (Disks.room/hold), so together they never promise more
 * than the filesystem gives out. Snapshots are read-only snapshots under `volume-snapshots/`;
 * a volume made from a snapshot or forked from another volume is a writable snapshot: O(1).
 * Files are uid-0 based on disk, as disks are: the runtime mounts a volume into a machine
 * through an idmapped mount. Without a machines filesystem there are no volumes.
 *
 *   const volumes = await Volumes.load(fs, disks)
 *   await volumes.create('vol_123', 2 ** 30)                     // throws, naming the limit, before anything is made
 *   await volumes.snapshot('vol_123', 'vs_456')
 *   await volumes.create('vol_789', 2 ** 30, { snapshot: 'vs_456' })
 */
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HangarError } from '../errors.ts'
import { createSubvolume, deleteSubvolume, limitSubvolume, snapshotSubvolume, subvolumeUsage, subvolumeUuid, type Usage } from './btrfs.ts'
import type { Disks } from './disks.ts'
import { GiB, gb, type MachinesFs } from './machines-fs.ts'

const VOLUME_ID = /^vol_[a-z0-9]{1,40}$/
const SNAPSHOT_ID = /^vs_[A-Za-z0-9]{1,40}$/

/** Where a new volume's content comes from: empty, a snapshot, or another volume as it is now. */
export type VolumeSeed = { snapshot: string } | { volume: string }

export class Volumes {
  #fs: MachinesFs
  #disks: Disks
  #dir: string
  #snapshots: string

  private constructor(fs: MachinesFs, disks: Disks) {
    this.#fs = fs
    this.#disks = disks
    this.#dir = join(fs.dir, 'volumes')
    this.#snapshots = join(fs.dir, 'volume-snapshots')
  }

  /** Opens the volumes dirs and reserves every volume's size in the disks' ledger. */
  static async load(fs: MachinesFs, disks: Disks): Promise<Volumes> {
    const v = new Volumes(fs, disks)
    if (!fs.quota) return v
    for (const d of [v.#dir, v.#snapshots]) await mkdir(d, { recursive: true, mode: 0o700 })
    // A restore a crash cut short: finished before anything looks at the volumes.
    for (const name of await readdir(v.#dir)) {
      const id = /^(vol_[a-z0-9]{1,40})\.(?:new|old)$/.exec(name)?.[1]
      if (id) await v.recover(id)
    }
    for (const id of await v.ids()) {
      const bytes = Number((await readFile(v.#limitFile(id), 'utf8').catch(() => '')).trim())
      if (Number.isSafeInteger(bytes) && bytes > 0) disks.hold(id, bytes)
    }
    return v
  }

  get supported(): boolean {
    return this.#fs.quota
  }

  #assertSupported(): void {
    if (!this.#fs.quota) {
      throw new HangarError('volumes_unsupported', 'this host has no machines filesystem (the daemon runs with --machines-fs none), so it cannot give a volume a size it enforces')
    }
  }

  /** The volume's subvolume on the host, which the runtime mounts into a machine. */
  path(id: string): string {
    if (!VOLUME_ID.test(id)) throw new HangarError('invalid_argument', `invalid volume id "${id}"`)
    return join(this.#dir, id)
  }

  snapshotPath(id: string): string {
    if (!SNAPSHOT_ID.test(id)) throw new HangarError('invalid_argument', `invalid volume snapshot id "${id}"`)
    return join(this.#snapshots, id)
  }

  #limitFile(id: string): string {
    return `${this.path(id)}.size`
  }

  /** Throws, naming the limit, when `bytes` more for `id` cannot be reserved. */
  #admit(id: string, bytes: number): void {
    const { capacity, total, available } = this.#disks.room(id)
    if (bytes > capacity) {
      throw new HangarError('volume_too_large', `a volume of ${gb(bytes)} is larger than this host's machines filesystem (${gb(capacity)})`, {
        hint: `ask for at most ${Math.floor(capacity / GiB)} GB in size_gb, or give the host a larger machines filesystem (--machines-fs-size, --machines-fs)`,
        details: { requested_bytes: bytes, limit_bytes: capacity },
      })
    }
    if (bytes > available) {
      throw new HangarError('volume_no_room', `a volume of ${gb(bytes)} does not fit: the machines' disks and volumes on this host hold ${gb(total - available)} of the ${gb(total)} its machines filesystem gives out, ${gb(available)} is left`, {
        details: { requested_bytes: bytes, available_bytes: available },
      })
    }
  }

  /** Makes the volume with its limit, empty or from a seed; reserved at once, and nothing is left behind by a failure. */
  async create(id: string, bytes: number, seed?: VolumeSeed): Promise<void> {
    this.#assertSupported()
    const path = this.path(id)
    if (existsSync(path)) throw new HangarError('runtime_error', `volume ${id} already exists on disk`)
    const from = seed === undefined ? null : 'snapshot' in seed ? this.snapshotPath(seed.snapshot) : this.path(seed.volume)
    if (from !== null && !existsSync(from)) throw new HangarError('runtime_error', `the source of volume ${id} is missing on disk: ${from}`)
    this.#admit(id, bytes)
    this.#disks.hold(id, bytes)
    try {
      await writeFile(this.#limitFile(id), String(bytes))
      if (from !== null) await snapshotSubvolume(from, path, { readOnly: false })
      else await createSubvolume(path)
      await limitSubvolume(path, bytes)
    } catch (e) {
      await this.remove(id).catch(() => {})
      throw e
    }
  }

  /** A larger limit, at once (a mounted volume grows without a restart); smaller is refused. */
  async extend(id: string, bytes: number): Promise<void> {
    this.#assertSupported()
    const path = this.path(id)
    const { limit } = await subvolumeUsage(path)
    if (limit !== null && bytes < limit) {
      throw new HangarError('out_of_range', `volume ${id} is ${gb(limit)}; a volume can only grow, not shrink to ${gb(bytes)}`, {
        hint: `ask for more than ${Math.round(limit / GiB)} GB, or make a smaller volume and copy what you need into it`,
      })
    }
    this.#admit(id, bytes)
    this.#disks.hold(id, bytes)
    await writeFile(this.#limitFile(id), String(bytes))
    await limitSubvolume(path, bytes)
  }

  /** A read-only snapshot of the volume as it is now (a writer sees its own writes in it: btrfs flushes first). */
  async snapshot(id: string, snapshotId: string): Promise<{ sizeBytes: number; uuid: string }> {
    this.#assertSupported()
    const dest = this.snapshotPath(snapshotId)
    await snapshotSubvolume(this.path(id), dest, { readOnly: true })
    try {
      return { sizeBytes: (await subvolumeUsage(dest, { sync: false })).used, uuid: await subvolumeUuid(dest) }
    } catch (e) {
      await this.removeSnapshot(snapshotId).catch(() => {})
      throw e
    }
  }

  /**
   * Puts a snapshot back as the volume's content, its limit kept; no machine may have it mounted.
   * Made beside and renamed over, as Disks.replace, so `recover` can finish what a crash cut short.
   */
  async replace(id: string, snapshotId: string): Promise<void> {
    this.#assertSupported()
    const path = this.path(id)
    await this.recover(id)
    await snapshotSubvolume(this.snapshotPath(snapshotId), `${path}.new`, { readOnly: false })
    const bytes = Number((await readFile(this.#limitFile(id), 'utf8')).trim())
    await limitSubvolume(`${path}.new`, bytes)
    await rename(path, `${path}.old`)
    await rename(`${path}.new`, path)
    await this.#disks.discard(`${path}.old`)
  }

  /** The new content in place and the old one gone, after a `replace` that stopped half-way. */
  async recover(id: string): Promise<void> {
    const path = this.path(id)
    if (!existsSync(path) && existsSync(`${path}.new`)) await rename(`${path}.new`, path)
    for (const leftover of [`${path}.old`, `${path}.new`]) if (existsSync(leftover)) await deleteSubvolume(leftover)
  }

  usage(id: string): Promise<Usage> {
    return subvolumeUsage(this.path(id))
  }

  /** Deletes the volume and frees its reservation. Idempotent; the runtime must have unmounted it. */
  async remove(id: string): Promise<void> {
    const path = this.path(id)
    if (existsSync(path)) await deleteSubvolume(path)
    await rm(this.#limitFile(id), { force: true })
    this.#disks.release(id)
  }

  hasSnapshot(snapshotId: string): boolean {
    return existsSync(this.snapshotPath(snapshotId))
  }

  /** Idempotent. */
  async removeSnapshot(snapshotId: string): Promise<void> {
    const path = this.snapshotPath(snapshotId)
    if (existsSync(path)) await this.#disks.discard(path)
  }

  /** Every volume id on disk (for sweeping what a crash left). */
  async ids(): Promise<string[]> {
    return (await readdir(this.#dir).catch(() => [] as string[])).filter((n) => VOLUME_ID.test(n))
  }

  async snapshotIds(): Promise<string[]> {
    return (await readdir(this.#snapshots).catch(() => [] as string[])).filter((n) => SNAPSHOT_ID.test(n))
  }
}
