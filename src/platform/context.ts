/** What every service in the platform shares: the store, the runtime, and the per-machine lock. */
import type { CheckView } from './view.ts'
import type { Logger } from 'pino'
import type { Store, MachineRow } from '../store/index.ts'
import type { Driver } from '../runtime/types.ts'
import type { ImageStore } from '../images/types.ts'
import { KeyedQueue } from '../lib/keyed-queue.ts'
import { HangarError } from '../errors.ts'
import { Capacity, type CapacityLimits } from './capacity.ts'
import { DiskGuard, type DiskOptions } from './disk.ts'
import { MachineEvents } from './events.ts'
import { Leases } from './leases.ts'
import type { TokenizerDeps } from './tokenizer.ts'
import { SecretBox } from './secrets-crypto.ts'
import type { PortRange } from '../lib/port-ranges.ts'

/**
 * Serves the Machines API to each machine on a socket of its own, as that machine (its app only):
 * the daemon's REST layer implements it, and hands it over with platform.serveMachineApi.
 */
export interface MachineApiHost {
  /** Listening on machine `id`'s socket, as that machine of `app`, once this resolves. */
  open(id: string, app: string): Promise<void>
  /** Stops serving it and cuts its connections; idempotent. */
  close(id: string): void
}

/** What a machine left behind by a failed write needs: its row read back from the runtime, or its destroy finished. */
export type SettleHow = 'reconcile' | 'destroy'

export interface PlatformDeps {
  store: Store
  driver: Driver
  images: ImageStore
  logger: Logger
  /** Region name reported on machines; one host is one region. */
  region: string
  /** How much of the host running machines may reserve together. */
  capacity: CapacityLimits
  /** The data dir's filesystem, and the free space kept for the daemon's own writes. */
  disk: DiskOptions
  /** The root key macaroons are signed with (32 bytes from <data-dir>/token-key; never in the store). */
  tokenKey: Buffer
  /** The key app secrets are sealed with (32 bytes from <data-dir>/secrets-key; never in the store). */
  secretsKey: Buffer
  /** How many checkpoints a machine keeps before the oldest without a comment goes (default 20). */
  checkpointRetention?: number
  /** The tokenizer's seal key and addresses; absent, sealing is `unavailable`. */
  tokenizer?: TokenizerDeps
  /** Host ports machines' raw TCP services may listen on (--tcp-ports); absent: none. */
  tcpPorts?: PortRange[]
}

export interface Ctx extends Omit<PlatformDeps, 'capacity' | 'disk'> {
  capacity: Capacity
  disk: DiskGuard
  events: MachineEvents
  leases: Leases
  /** Seals and opens app secrets (secrets.ts) with the secrets key. */
  secretBox: SecretBox
  /** Serialises every operation on one machine id. */
  queue: KeyedQueue
  /** Volumes a machine create or update is mounting right now, by volume id → machine id: held before the machine row exists. */
  volumeClaims: Map<string, string>
  /** Restarts scheduled by the restart policy; any user action on the machine cancels its own. */
  pendingRestarts: Map<string, NodeJS.Timeout>
  /** Machines whose row a failed write (a full disk) may have left behind the runtime, each with its retry. */
  unsettled: Map<string, { timer: NodeJS.Timeout; how: SettleHow }>
  /** Writes down, once writes land again, what the runtime says of the machine (or finishes its destroy). */
  resettle: (id: string, how?: SettleHow) => void
  /** The base-image build that will produce a local ref, if one runs (set once the images service exists). */
  imageBuilding: (ref: string) => Promise<unknown> | undefined
  /** A machine's health checks as last run (set by the daemon once the edge proxy runs them); undefined when it has none. */
  checks: (machineId: string) => CheckView[] | undefined
  /** Who serves each machine its API socket (set by the daemon with serveMachineApi); absent: machines get none. */
  machineApi?: MachineApiHost
}

export function createCtx(deps: PlatformDeps): Ctx {
  return {
    ...deps,
    capacity: new Capacity(deps.store, deps.capacity),
    disk: new DiskGuard(deps.disk),
    events: new MachineEvents(deps.store),
    leases: new Leases(deps.store),
    secretBox: new SecretBox(deps.secretsKey),
    queue: new KeyedQueue(),
    pendingRestarts: new Map(),
    volumeClaims: new Map(),
    unsettled: new Map(),
    resettle: () => {},
    imageBuilding: () => undefined,
    checks: () => undefined,
  }
}

/** The machine, which must belong to `app` and not be destroyed unless `allowDestroyed`. */
export function loadMachine(ctx: Ctx, app: string, id: string, allowDestroyed = false): MachineRow {
  const m = ctx.store.machines.get(id)
  if (!m || m.app_name !== app) {
    if (!ctx.store.apps.get(app)) throw new HangarError('app_not_found', `app not found: ${app}`)
    throw new HangarError('machine_not_found', `machine not found: ${id}`)
  }
  if (m.state === 'destroyed' && !allowDestroyed) {
    throw new HangarError('machine_not_found', `machine ${id} was destroyed at ${m.updated_at}`, { hint: 'create a new machine' })
  }
  return m
}

export function cancelPendingRestart(ctx: Ctx, id: string): void {
  const t = ctx.pendingRestarts.get(id)
  if (t) {
    clearTimeout(t)
    ctx.pendingRestarts.delete(id)
  }
}
