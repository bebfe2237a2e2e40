/**
 * Each machine's user and group ids: 0..65535 inside are BASE..BASE+65535 on
 * the host, a range of its own that no host user owns (host accounts and the
 * subordinate ranges useradd hands out sit far below 2^28). Machines never
 * share a range, so one machine's root is nobody to another's files, even on
 * the same app. The base is written beside the machine (`<machine>/idmap`),
 * so the allocation survives restarts; layers and upper dirs stay uid-0 based
 * on disk and are seen through idmapped mounts, so a range is only a number.
 *
 * Ranges are claimed host-wide, not per daemon: two daemons on one host (two
 * data dirs) would otherwise hand the same range to machines that must never
 * share one. A claim is a file `<registry>/<base>` naming its data dir and
 * machine, made with O_EXCL; one whose machine dir is gone (a data dir deleted
 * without its machines being destroyed) is taken back.
 *
 *   const ranges = await IdRanges.load(layout)
 *   const base = ranges.allocate(machineId)   // 268435456, then 268500992, …
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HangarError } from '../../errors.ts'
import type { Layout } from './layout.ts'

export const RANGE_SIZE = 65536
/** 2^28: above every uid a Debian host, its users' subordinate ranges or an LDAP directory usually hands out. */
export const FIRST_BASE = 0x10000000
/** Up to uid 2^32 - 2^16, leaving (uid_t)-1 alone. */
const SLOTS = (2 ** 32 - FIRST_BASE) / RANGE_SIZE - 1

/** Where every daemon on the host claims its ranges; kept across reboots, as the machines are. */
export const HOST_REGISTRY = '/var/lib/hangar-id-ranges'

export class IdRanges {
  #taken = new Set<number>()
  #next = 0
  #machinesDir: string
  #registry: string

  private constructor(machinesDir: string, registry: string) {
    this.#machinesDir = machinesDir
    this.#registry = registry
  }

  /** Reads the ranges of every machine on disk and claims them host-wide (machines from before the registry too). */
  static async load(layout: Layout, opts: { registry?: string; logger?: { warn: (obj: object, msg: string) => void } } = {}): Promise<IdRanges> {
    const { registry = HOST_REGISTRY, logger } = opts
    const ranges = new IdRanges(layout.machinesDir, registry)
    mkdirSync(registry, { recursive: true, mode: 0o700 })
    for (const id of await readdir(layout.machinesDir).catch(() => [] as string[])) {
      const base = await readBase(join(layout.machinesDir, id, 'idmap'))
      if (base === null) continue
      ranges.#taken.add(base)
      if (!ranges.#claim(base, id) && ranges.#owner(base) !== `${layout.machinesDir}\n${id}`) {
        // Two daemons already share it (both made before the registry): nothing to do for a machine that
        // may be running; the operator hears of it, and a new machine never gets such a range.
        logger?.warn({ machine: id, base, claimedBy: ranges.#owner(base).replace('\n', ' ') }, 'machine shares its user-namespace range with a machine of another daemon on this host; recreate one of them')
      }
    }
    return ranges
  }

  /** A free base, now taken by machine `id`. */
  allocate(id: string): number {
    for (let i = 0; i < SLOTS; i++) {
      const base = FIRST_BASE + ((this.#next + i) % SLOTS) * RANGE_SIZE
      if (this.#taken.has(base) || !this.#claim(base, id)) continue
      this.#taken.add(base)
      // Round robin: a destroyed machine's range is not handed out again at once.
      this.#next = (this.#next + i + 1) % SLOTS
      return base
    }
    throw new HangarError('unavailable', `all ${SLOTS} user-namespace ranges are in use`, { hint: 'destroy machines you no longer need' })
  }

  release(base: number): void {
    this.#taken.delete(base)
    if (this.#owner(base).startsWith(`${this.#machinesDir}\n`)) unlinkSync(join(this.#registry, String(base)))
  }

  /** Claims `base` for machine `id`; false when another live machine holds it. */
  #claim(base: number, id: string): boolean {
    const file = join(this.#registry, String(base))
    if (this.#claimOnce(file, id)) return true
    const [machinesDir, owner] = this.#owner(base).split('\n')
    // Stale only when its machine is gone: one being created has its dir before its idmap file.
    if (machinesDir && owner && existsSync(join(machinesDir, owner))) return false
    try {
      unlinkSync(file)
    } catch {
      // taken back by another daemon first
    }
    return this.#claimOnce(file, id)
  }

  /** O_EXCL: of two daemons claiming at once, one wins. */
  #claimOnce(file: string, id: string): boolean {
    let fd: number
    try {
      fd = openSync(file, 'wx', 0o600)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw e
    }
    writeSync(fd, `${this.#machinesDir}\n${id}`)
    closeSync(fd)
    return true
  }

  #owner(base: number): string {
    try {
      return readFileSync(join(this.#registry, String(base)), 'utf8')
    } catch {
      return ''
    }
  }
}

/** The base a machine's `idmap` file records, or null (none yet, or a machine from before user namespaces). */
export async function readBase(file: string): Promise<number | null> {
  const text = await readFile(file, 'utf8').catch(() => null)
  if (text === null) return null
  const base = Number(text.trim())
  return Number.isInteger(base) && base >= FIRST_BASE && (base - FIRST_BASE) % RANGE_SIZE === 0 ? base : null
}
