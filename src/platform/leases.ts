/**
 * Leases let one client hold a machine: while a lease is live, mutations need
 * its nonce (header fly-machine-lease-nonce). Metadata writes are not guarded.
 */
import type { LeaseRow, Store } from '../store/index.ts'
import { HangarError, isDiskFull } from '../errors.ts'
import { nonce as newNonce } from '../lib/ids.ts'

export interface LeaseView {
  nonce: string
  expires_at: number
  owner: string
  description: string
  version: string
}

const nowS = (): number => Math.floor(Date.now() / 1000)

export class Leases {
  readonly #store: Store

  constructor(store: Store) {
    this.#store = store
  }

  #live(machineId: string): LeaseRow | undefined {
    const l = this.#store.leases.get(machineId)
    if (l && l.expires_at <= nowS()) {
      try {
        this.#store.leases.delete(machineId)
      } catch (e) {
        // Expired either way; on a full disk the row goes at a later write. Reads must keep working.
        if (!isDiskFull(e)) throw e
      }
      return undefined
    }
    return l
  }

  get(machineId: string): LeaseView {
    const l = this.#live(machineId)
    if (!l) throw new HangarError('lease_not_found', `lease not found for machine ${machineId}`)
    return view(l)
  }

  /** Takes the lease, or refreshes it when `heldNonce` matches the live one. */
  acquire(machineId: string, opts: { ttl: number; description: string; owner: string; version: string; heldNonce?: string }): LeaseView {
    const current = this.#live(machineId)
    if (current && current.nonce !== opts.heldNonce) throw conflict(machineId, current)
    const row: LeaseRow = {
      machine_id: machineId,
      nonce: current?.nonce ?? newNonce(),
      owner: opts.owner,
      description: opts.description,
      expires_at: nowS() + opts.ttl,
      version: opts.version,
    }
    this.#store.leases.put(row)
    return view(row)
  }

  release(machineId: string, heldNonce: string | undefined): void {
    const current = this.#live(machineId)
    if (!current) throw new HangarError('lease_not_found', `lease not found for machine ${machineId}`)
    if (current.nonce !== heldNonce) throw conflict(machineId, current)
    this.#store.leases.delete(machineId)
  }

  /** Throws lease_conflict when someone holds a live lease and `heldNonce` is not its nonce. */
  check(machineId: string, heldNonce: string | undefined): void {
    const current = this.#live(machineId)
    if (current && current.nonce !== heldNonce) throw conflict(machineId, current)
  }
}

function view(l: LeaseRow): LeaseView {
  return { nonce: l.nonce, expires_at: l.expires_at, owner: l.owner, description: l.description, version: l.version }
}

function conflict(machineId: string, l: LeaseRow): HangarError {
  return new HangarError(
    'lease_conflict',
    `aborted: machine ID ${machineId} lease currently held by ${l.owner}, expires at ${new Date(l.expires_at * 1000).toISOString()}`,
    { details: { owner: l.owner, expires_at: l.expires_at } },
  )
}
