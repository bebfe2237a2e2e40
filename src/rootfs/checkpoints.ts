/**
 * Frozen copies of machines' disks: checkpoints to go back to and to fork
 * from. On the machines filesystem each is a read-only btrfs snapshot of the
 * disk subvolume (upper, overlay work dir, /etc files), so taking, restoring
 * and forking from one are O(1) in the disk's size; without one (`--machines-fs
 * none`) each is a copy of the upper, O(size), correct but slow. Files on a
 * disk are uid-0 based (the idmapped mount shifts them), so a checkpoint can
 * seed a machine with any id range.
 *
 * Checkpoints are named by keys the caller picks (the platform records them);
 * a key on disk the platform does not know is a crash's leftover, for it to sweep.
 *
 *   await checkpoints.capture(id, key)           // the writer is frozen by the caller
 *   await checkpoints.restore(id, key)           // overlay unmounted by the caller
 *   await disks.create(forkId, bytes, checkpoints.path(key))
 */
import { existsSync } from 'node:fs'
import { mkdir, readdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { HangarError } from '../errors.ts'
import { run } from '../lib/proc.ts'
import { snapshotSubvolume, subvolumeUsage } from './btrfs.ts'
import { copyTree, type Disks } from './disks.ts'

const KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/

export class Checkpoints {
  #dir: string
  #disks: Disks

  constructor(dir: string, disks: Disks) {
    this.#dir = dir
    this.#disks = disks
  }

  async open(): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 })
  }

  path(key: string): string {
    if (!KEY.test(key)) throw new HangarError('invalid_argument', `invalid checkpoint key "${key}"`)
    return join(this.#dir, key)
  }

  /** Freezes the machine's disk as it is now under `key`; made beside and renamed, so a crash never leaves half a checkpoint under its name. */
  async capture(id: string, key: string): Promise<{ sizeBytes: number }> {
    const dest = this.path(key)
    if (existsSync(dest)) throw new HangarError('runtime_error', `checkpoint ${key} already exists on disk`)
    const paths = this.#disks.paths(id)
    if (this.#disks.quota) {
      await snapshotSubvolume(paths.disk, dest, { readOnly: true })
    } else {
      const tmp = `${dest}.tmp`
      await rm(tmp, { recursive: true, force: true })
      await mkdir(tmp)
      await copyTree(paths.upper, join(tmp, 'upper'))
      await rename(tmp, dest)
    }
    return { sizeBytes: await this.size(key) }
  }

  /** Puts the checkpoint back as the machine's disk; its limit stays. */
  async restore(id: string, key: string): Promise<void> {
    const from = this.path(key)
    if (!existsSync(from)) throw new HangarError('runtime_error', `checkpoint ${key} is missing on disk`)
    await this.#disks.replace(id, from)
  }

  /** Bytes the checkpoint holds (shared with its machine or not). */
  async size(key: string): Promise<number> {
    const path = this.path(key)
    // A read-only snapshot never changes: its creation's commit already counted it.
    if (this.#disks.quota) return (await subvolumeUsage(path, { sync: false })).used
    const { stdout } = await run('du', ['-sb', path], { step: 'du a checkpoint' })
    return Number.parseInt(stdout, 10)
  }

  /** Idempotent; the frozen disk is deleted in the background. */
  async remove(key: string): Promise<void> {
    const path = this.path(key)
    if (existsSync(path)) await this.#disks.discard(path)
  }

  /** Every key on disk (for sweeping leftovers). */
  async keys(): Promise<string[]> {
    const names = await readdir(this.#dir).catch(() => [] as string[])
    return names.filter((n) => KEY.test(n) && !n.endsWith('.tmp'))
  }
}
