/**
 * Admission control. A machine that runs, or is about to, reserves its guest's
 * memory and CPUs; a start that would take the reservations past the host's
 * limits is refused with capacity_exceeded before anything happens. A stopped
 * (or created) machine reserves nothing, as on Fly, where a stopped Machine
 * costs nothing and its start may find no room on its host.
 *
 *   capacity.check(id, guestOf(config))              // a start: throws, or the caller moves the row to 'starting' in the same tick
 *   const release = capacity.hold(id, guestOf(config))   // across awaits (create, update, restart)
 */
import { HangarError } from '../errors.ts'
import type { Store } from '../store/index.ts'
import type { MachineConfig } from '../ops/schemas.ts'

/** States whose machine has (or is about to have) processes holding memory; suspended ones keep theirs. */
export const reservingStates: readonly string[] = ['starting', 'started', 'stopping', 'suspending', 'suspended']

export interface Need {
  memoryMb: number
  cpus: number
}

export interface CapacityLimits {
  /** MemTotal of the host, MB. */
  hostMemoryMb: number
  /** The share of it machines may reserve together. */
  memoryShare: number
  /** Online CPUs of the host. */
  hostCpus: number
  /** How many guest CPUs each host CPU may carry. */
  cpuOvercommit: number
}

/** What a machine of this config reserves while it runs; the defaults are buildSpec's. */
export function guestOf(config: Record<string, unknown>): Need {
  const guest = (config as MachineConfig).guest
  return { memoryMb: guest?.memory_mb ?? 256, cpus: guest?.cpus ?? 1 }
}

export class Capacity {
  readonly #store: Pick<Store, 'machines'>
  readonly #limits: CapacityLimits
  readonly #held = new Map<string, Need>()
  readonly memoryMb: number
  readonly cpus: number

  constructor(store: Pick<Store, 'machines'>, limits: CapacityLimits) {
    this.#store = store
    this.#limits = limits
    this.memoryMb = Math.floor(limits.hostMemoryMb * limits.memoryShare)
    this.cpus = Math.floor(limits.hostCpus * limits.cpuOvercommit * 100) / 100
  }

  /** What machines other than `except` reserve: running rows, plus holds of creates and updates under way. */
  reserved(except?: string): Need {
    const by = new Map<string, Need>()
    for (const m of this.#store.machines.live()) if (reservingStates.includes(m.state)) by.set(m.id, guestOf(m.config))
    for (const [id, need] of this.#held) {
      // A running machine being updated holds its new size: count the larger of the two until it restarts.
      const row = by.get(id)
      by.set(id, row ? { memoryMb: Math.max(row.memoryMb, need.memoryMb), cpus: Math.max(row.cpus, need.cpus) } : need)
    }
    by.delete(except as string)
    let memoryMb = 0
    let cpus = 0
    for (const n of by.values()) {
      memoryMb += n.memoryMb
      cpus += n.cpus
    }
    return { memoryMb, cpus }
  }

  /**
   * Throws capacity_exceeded unless `need` fits beside what every other machine reserves.
   * Synchronous: a caller that writes its 'starting' row in the same tick cannot race another start.
   */
  check(id: string, need: Need): void {
    const now = this.reserved(id)
    const l = this.#limits
    if (now.memoryMb + need.memoryMb > this.memoryMb) {
      throw refusal(id, 'memory', `${need.memoryMb} MB`, `${now.memoryMb} MB`, `${this.memoryMb} MB`,
        `${l.memoryShare} × ${l.hostMemoryMb} MB of host memory, --max-memory-share`, { requested_mb: need.memoryMb, reserved_mb: now.memoryMb, limit_mb: this.memoryMb })
    }
    if (now.cpus + need.cpus > this.cpus) {
      throw refusal(id, 'CPUs', `${need.cpus}`, `${now.cpus}`, `${this.cpus}`,
        `${l.hostCpus} host CPUs × ${l.cpuOvercommit}, --cpu-overcommit`, { requested_cpus: need.cpus, reserved_cpus: now.cpus, limit_cpus: this.cpus })
    }
  }

  /** check, then keeps `need` reserved under `id` until the returned release is called. */
  hold(id: string, need: Need): () => void {
    this.check(id, need)
    this.#held.set(id, need)
    return () => {
      if (this.#held.get(id) === need) this.#held.delete(id)
    }
  }
}

function refusal(id: string, what: string, asked: string, reserved: string, limit: string, why: string, details: Record<string, number>): HangarError {
  return new HangarError(
    'capacity_exceeded',
    `not enough ${what} on this host for machine ${id}: it asks for ${asked}, running machines reserve ${reserved}, and the limit for machines is ${limit} (${why})`,
    { details: { resource: what === 'CPUs' ? 'cpus' : 'memory', ...details } },
  )
}
