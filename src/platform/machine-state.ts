/**
 * Enforces the machine state table (ops/states.ts): an action from a state its
 * row does not list is a 409 that names the current state and the way out.
 */
import { HangarError } from '../errors.ts'

export { persistentStates, transientStates, type MachineState, type MachineAction as Action } from '../ops/states.ts'
import { allowedFrom as allowed, transientStates, type MachineAction as Action, type MachineState } from '../ops/states.ts'

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
