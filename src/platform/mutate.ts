/**
 * The one way a machine is changed: under its lock, after the lease check and
 * the action's state precondition (machine-state.ts). Only a request that
 * passes both cancels a restart the restart policy has scheduled: a refused one
 * must not keep a crashed machine down.
 */
import type { MachineRow } from '../store/index.ts'
import { type Ctx, cancelPendingRestart, loadMachine } from './context.ts'
import { assertCan, transientStates, type Action } from './machine-state.ts'

export interface Guard {
  /** The lease nonce the caller holds, from fly-machine-lease-nonce. */
  nonce?: string
}

const isTransient = (state: string | undefined): boolean => (transientStates as readonly (string | undefined)[]).includes(state)

export function mutateMachine<T>(ctx: Ctx, app: string, id: string, guard: Guard, action: Action, fn: (m: MachineRow) => Promise<T>): Promise<T> {
  loadMachine(ctx, app, id)
  return ctx.queue.run(id, async () => {
    const m = loadMachine(ctx, app, id)
    ctx.leases.check(id, guard.nonce)
    assertCan(action, m.state, id)
    cancelPendingRestart(ctx, id)
    try {
      return await fn(m)
    } catch (e) {
      // A write that failed half-way (a full disk) can leave the row mid-operation: read it back later.
      if (isTransient(ctx.store.machines.get(id)?.state)) ctx.resettle(id)
      throw ctx.disk.asDiskFull(e, `machine ${id}: ${action.replace('_', ' ')} failed`) ?? e
    }
  })
}
