/**
 * A machine's user namespace and the network namespace it owns, made by the
 * native helper and kept as nsfs bind mounts: the netns at /run/netns/<name>
 * (so `ip netns exec` and CNI use it as before), the user namespace beside the
 * conmon sockets. Both live in /run and vanish at reboot, when start makes
 * them again with the machine's recorded range.
 *
 *   const ns = new Namespaces(helper, layout)
 *   await ns.create(id, base, '/run/netns/hangar-<id>')
 */
import { existsSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { RANGE_SIZE } from './id-ranges.ts'
import type { Layout } from './layout.ts'
import { run, tryRun } from '../../lib/proc.ts'

/** What the overlay mount needs to see the layers through the machine's eyes. */
export interface Idmap {
  helper: string
  base: number
  usernsFile: string
}

export class Namespaces {
  readonly helper: string
  #layout: Layout

  constructor(helper: string, layout: Layout) {
    this.helper = helper
    this.#layout = layout
  }

  idmap(id: string, base: number): Idmap {
    return { helper: this.helper, base, usernsFile: this.#layout.machine(id).userns }
  }

  /** Makes both namespaces; the netns file must not exist yet. */
  async create(id: string, base: number, netnsFile: string): Promise<void> {
    const usernsFile = this.#layout.machine(id).userns
    await this.remove(id)
    for (const f of [usernsFile, netnsFile]) {
      await mkdir(dirname(f), { recursive: true })
      await writeFile(f, '', { mode: 0o444 })
    }
    try {
      await run(this.helper, ['create', String(base), String(RANGE_SIZE), usernsFile, netnsFile], { step: 'create user and network namespaces' })
    } catch (e) {
      await rm(netnsFile, { force: true })
      await this.remove(id)
      throw e
    }
  }

  /** Unmounts and removes the user namespace file. Idempotent; the netns goes with `ip netns delete`. */
  async remove(id: string): Promise<void> {
    const file = this.#layout.machine(id).userns
    if (!existsSync(file)) return
    await tryRun('umount', ['-l', file], { step: 'umount userns' })
    await rm(file, { force: true })
  }

  missing(id: string): boolean {
    return !existsSync(this.#layout.machine(id).userns)
  }
}
