/**
 * The machine state machine as data. Each action lists the states it may start
 * from; anything else is a 409 that names the current state and the way out.
 * Persistent: created started stopped suspended failed destroyed.
 * Transient: starting stopping suspending replacing destroying.
 */
import { HangarError } from '../errors.ts'

export const persistentStates = ['created', 'started', 'stopped', 'suspended', 'failed', 'destroyed'] as const
export const transientStates = ['starting', 'stopping', 'suspending', 'replacing', 'destroying'] as const
export type MachineState = (typeof persistentStates)[number] | (typeof transientStates)[number]

export type Action = 'start' | 'stop' | 'restart' | 'suspend' | 'signal' | 'exec' | 'update' | 'destroy' | 'force_destroy' | 'lease' | 'checkpoint' | 'restore' | 'fork' | 'files'

const allowed: Record<Action, readonly MachineState[]> = {
  start: ['created', 'stopped', 'suspended', 'failed', 'started'],
  // Stopping something already at rest is a no-op, not an error.
  stop: ['started', 'suspended', 'stopped', 'created', 'failed'],
  restart: ['started', 'stopped', 'created', 'failed'],
  suspend: ['started', 'suspended'],
  signal: ['started'],
  exec: ['started'],
  update: ['created', 'started', 'stopped', 'suspended', 'failed'],
  destroy: ['created', 'stopped', 'failed', 'suspended'],
  force_destroy: ['created', 'started', 'stopped', 'suspended', 'failed', 'starting', 'stopping', 'suspending', 'replacing'],
  // A disk mid-start or mid-stop is not one state: wait for it to settle.
  checkpoint: ['created', 'started', 'stopped', 'suspended', 'failed'],
  restore: ['created', 'started', 'stopped', 'suspended', 'failed'],
  fork: ['created', 'started', 'stopped', 'suspended', 'failed'],
  lease: ['created', 'started', 'stopped', 'suspended', 'failed', 'starting', 'stopping', 'suspending', 'replacing'],
  // Files need the disk in place: not while a replace swaps the layers under it, nor once destroy began.
  files: ['created', 'started', 'stopped', 'suspended', 'failed', 'starting', 'stopping', 'suspending'],
}

const wayOut: Partial<Record<MachineState, string>> = {
  started: 'stop it first (POST …/stop), or pass force=true to destroy',
  destroyed: 'it is gone; create a new machine',
  destroying: 'it is being destroyed; create a new machine',
  created: 'start it first (POST …/start)',
  stopped: 'start it first (POST …/start)',
  failed: 'start it again or update its config',
  suspended: 'start it first (POST …/start) to resume it',
}

export function canDo(action: Action, state: string): boolean {
  return (allowed[action] as readonly string[]).includes(state)
}

/** Throws invalid_state (409) unless `action` is allowed from `state`. */
export function assertCan(action: Action, state: string, id: string): void {
  if (canDo(action, state)) return
  const from = allowed[action].filter((s) => s !== 'destroyed').join(', ')
  const hint = (transientStates as readonly string[]).includes(state)
    ? `wait for the current operation to finish (GET …/wait?state=settled), then retry`
    : wayOut[state as MachineState] ?? `allowed from: ${from}`
  throw new HangarError('invalid_state', `failed_precondition: unable to ${action.replace('_', ' ')} machine ${id} from state '${state}' (allowed from: ${from})`, {
    hint,
    details: { state, allowed_from: allowed[action] },
  })
}

/** States a wait for "settled" accepts. */
export const settledStates: readonly string[] = ['created', 'started', 'stopped', 'suspended', 'failed', 'destroyed']
