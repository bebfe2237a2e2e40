/**
 * Long-poll until a machine reaches one of the wanted states: one call instead
 * of a polling loop. Driven by the event feed, never by re-reading the store.
 */
import { HangarError } from '../errors.ts'
import { type Ctx, loadMachine } from './context.ts'
import { settledStates } from './machine-state.ts'

export interface WaitResult {
  ok: true
  state: string
  instance_id: string
  event_id: string | null
}

function matches(want: string[], state: string): boolean {
  return want.includes(state) || (want.includes('settled') && settledStates.includes(state))
}

export function waitForState(ctx: Ctx, app: string, id: string, want: string[], timeoutMs: number, instanceId?: string, signal?: AbortSignal): Promise<WaitResult> {
  const m = loadMachine(ctx, app, id, true)
  if (instanceId && instanceId !== m.instance_id && m.state !== 'destroyed') {
    // Waiting on a version the machine already left: it will never get there as that version.
    throw new HangarError('version_mismatch', `machine ${id} is at version ${m.instance_id}, not ${instanceId}`)
  }
  const done = (state: string, instance: string, eventId: string | null): WaitResult => ({ ok: true, state, instance_id: instance, event_id: eventId })
  if (matches(want, m.state)) return Promise.resolve(done(m.state, m.instance_id, null))
  return new Promise((resolve, reject) => {
    let last = m.state
    const finish = (fn: () => void): void => {
      clearTimeout(timer)
      unsubscribe()
      signal?.removeEventListener('abort', onAbort)
      fn()
    }
    const onAbort = (): void => finish(() => reject(new HangarError('wait_timeout', 'wait cancelled by the client')))
    const unsubscribe = ctx.events.subscribe(({ machine, event }) => {
      if (machine.id !== id) return
      if (instanceId && machine.instance_id !== instanceId) {
        // Replaced by an update: the version waited on will never get there.
        finish(() => reject(new HangarError('version_mismatch', `machine ${id} was replaced by version ${machine.instance_id} while waiting on ${instanceId}`)))
        return
      }
      last = machine.state
      if (matches(want, machine.state)) finish(() => resolve(done(machine.state, machine.instance_id, event?.id ?? null)))
    })
    const timer = setTimeout(() => {
      finish(() =>
        reject(
          new HangarError('wait_timeout', `deadline_exceeded: machine failed to reach desired state, ${want.join(',')}, currently ${last}`, {
            details: { state: last, wanted: want },
          }),
        ),
      )
    }, timeoutMs)
    if (signal?.aborted) onAbort()
    else signal?.addEventListener('abort', onAbort, { once: true })
  })
}
