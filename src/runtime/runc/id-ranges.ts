/**
 * Each machine's user and group ids: 0..65535 inside are BASE..BASE+65535 on
 * the host, a range of its own that no host user owns (host accounts and the
 * subordinate ranges useradd hands out sit far below 2^28). Machines never
 * share a range, so one machine's root is nobody to another's files, even on
 * the same app. The base is written beside the machine (`<machine>/idmap`),
 * so the allocation survives restarts; layers and upper dirs stay uid-0 based
 * on disk and are seen through idmapped mounts, so a range is only a number.
 *
 *   const ranges = await IdRanges.load(layout)
 *   const base = ranges.allocate()   // 268435456, then 268500992, …
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HangarError } from '../../errors.ts'
import type { Layout } from './layout.ts'

export const RANGE_SIZE = 65536
/** 2^28: above every uid a Debian host, its users' subordinate ranges or an LDAP directory usually hands out. */
export const FIRST_BASE = 0x10000000
/** Up to uid 2^32 - 2^16, leaving (uid_t)-1 alone. */
const SLOTS = (2 ** 32 - FIRST_BASE) / RANGE_SIZE - 1

export class IdRanges {
  #taken = new Set<number>()
  #next = 0

  /** Reads the ranges of every machine on disk. */
  static async load(layout: Layout): Promise<IdRanges> {
    const ranges = new IdRanges()
    for (const id of await readdir(layout.machinesDir).catch(() => [] as string[])) {
      const base = await readBase(join(layout.machinesDir, id, 'idmap'))
      if (base !== null) ranges.#taken.add(base)
    }
    return ranges
  }

  /** A free base, now taken. */
  allocate(): number {
    for (let i = 0; i < SLOTS; i++) {
      const base = FIRST_BASE + ((this.#next + i) % SLOTS) * RANGE_SIZE
      if (!this.#taken.has(base)) {
        this.#taken.add(base)
        // Round robin: a destroyed machine's range is not handed out again at once.
        this.#next = (this.#next + i + 1) % SLOTS
        return base
      }
    }
    throw new HangarError('unavailable', `all ${SLOTS} user-namespace ranges are in use`, { hint: 'destroy machines you no longer need' })
  }

  release(base: number): void {
    this.#taken.delete(base)
  }
}

/** The base a machine's `idmap` file records, or null (none yet, or a machine from before user namespaces). */
export async function readBase(file: string): Promise<number | null> {
  const text = await readFile(file, 'utf8').catch(() => null)
  if (text === null) return null
  const base = Number(text.trim())
  return Number.isInteger(base) && base >= FIRST_BASE && (base - FIRST_BASE) % RANGE_SIZE === 0 ? base : null
}
