/**
 * The data disk. Creates, updates and starts are refused with disk_full while
 * the data dir's filesystem has less than the configured floor free, so the
 * space left is the daemon's for writing down what machines do. A watch notices
 * when a full disk has room again and lets the platform re-read what happened
 * meanwhile (an exit conmon could not record, a state write that failed).
 *
 *   const disk = new DiskGuard({ dir: '/var/lib/hangar', minFreeBytes: 256 << 20 })
 *   disk.assertRoom()                       // throws disk_full below the floor
 *   disk.watch(5000, () => resettleAll())   // called once each time space comes back
 */
import { statfsSync } from 'node:fs'
import { HangarError, isDiskFull, isHangarError } from '../errors.ts'

export interface DiskOptions {
  /** The data dir; its filesystem is the one watched. */
  dir: string
  /** Below this many free bytes, creates, updates and starts are refused; 0 turns the check off. */
  minFreeBytes: number
  /** Free bytes of the filesystem holding `dir`; statfs by default (tests pass their own). */
  free?: (dir: string) => number
}

/** Under this much free space the disk counts as full for the watch even with the floor off. */
const nearlyFull = 1 << 20

const mb = (bytes: number): string => `${(bytes / (1 << 20)).toFixed(1)} MB`

function statfsFree(dir: string): number {
  const s = statfsSync(dir)
  return Number(s.bavail) * Number(s.bsize)
}

export class DiskGuard {
  readonly #o: Required<DiskOptions>
  #timer: NodeJS.Timeout | null = null
  #full = false

  constructor(o: DiskOptions) {
    this.#o = { free: statfsFree, ...o }
  }

  get dir(): string {
    return this.#o.dir
  }

  /** Throws disk_full when the data dir's filesystem has less free than the floor. */
  assertRoom(): void {
    if (this.#o.minFreeBytes <= 0) return
    let free: number
    try {
      free = this.#o.free(this.#o.dir)
    } catch {
      return // statfs failing says nothing about space; the write itself will tell
    }
    if (free < this.#o.minFreeBytes) {
      this.#full = true
      throw new HangarError('disk_full', `the data disk has ${mb(free)} free, under the ${mb(this.#o.minFreeBytes)} Hangar keeps for its own state (--min-free-disk)`, {
        hint: this.hint(),
        details: { free_bytes: free, min_free_bytes: this.#o.minFreeBytes, data_dir: this.#o.dir },
      })
    }
  }

  hint(): string {
    return `free space on the filesystem holding ${this.#o.dir} (df ${this.#o.dir}); Hangar carries on by itself once there is room`
  }

  /** `e` as disk_full naming the data dir when a full disk caused it; otherwise undefined. */
  asDiskFull(e: unknown, what: string): HangarError | undefined {
    if (!isDiskFull(e)) return undefined
    this.#full = true
    if (isHangarError(e) && e.code === 'disk_full') return e
    return new HangarError('disk_full', `${what}: the disk is full (${e instanceof Error ? e.message : String(e)})`, { hint: this.hint(), cause: e })
  }

  /** Notes a write that failed on a full disk, so the watch reports when space is back. */
  sawFull(): void {
    this.#full = true
  }

  /** Looks every `everyMs`; `onRoom` runs each time a disk seen full has room again. */
  watch(everyMs: number, onRoom: () => void): void {
    this.#timer = setInterval(() => {
      let free: number
      try {
        free = this.#o.free(this.#o.dir)
      } catch {
        return
      }
      const full = free < Math.max(this.#o.minFreeBytes, nearlyFull)
      if (full) {
        this.#full = true
      } else if (this.#full) {
        this.#full = false
        onRoom()
      }
    }, everyMs)
    this.#timer.unref()
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer)
  }
}
