/**
 * The runtime steps behind each state change, called with the machine's lock
 * held. They move the state through its transient value, record the event, and
 * leave the row truthful when the runtime fails.
 */
import type { MachineRow } from '../store/index.ts'
import type { ExitInfo } from '../runtime/types.ts'
import { HangarError, toHangarError } from '../errors.ts'
import { parseDurationMs } from '../lib/duration.ts'
import { guestOf } from './capacity.ts'
import { removeCheckpoint } from './frozen.ts'
import type { Ctx } from './context.ts'
import type { EventSource } from './events.ts'
import type { MachineConfig } from '../ops/schemas.ts'
import { startSecrets, tidySecrets } from './secrets.ts'

export function exitRequest(exit: ExitInfo, requestedStop: boolean): Record<string, unknown> {
  return {
    exit_event: {
      exit_code: exit.exitCode,
      signal: exit.signal,
      oom_killed: exit.oomKilled,
      requested_stop: requestedStop,
      exited_at: new Date(exit.exitedAt).toISOString(),
    },
  }
}

/**
 * `note` (e.g. the proxy request that woke the machine) goes into the start event, whether it
 * succeeds or fails; `fresh` resets the restart count in the same write (a user's start).
 * Refused with capacity_exceeded or disk_full before anything changes; a suspended machine
 * thaws without asking, since it never gave its memory back.
 */
export async function runStart(ctx: Ctx, m: MachineRow, source: EventSource, type = 'start', note?: Record<string, unknown>, fresh = false): Promise<MachineRow> {
  if (m.state !== 'suspended') {
    ctx.disk.assertRoom()
    ctx.capacity.check(m.id, guestOf(m.config))
  }
  // The secrets it was bound to at its create or update, opened now: a key that cannot open them refuses the start before anything changes.
  const secrets = m.state === 'suspended' ? undefined : startSecrets(ctx, m)
  // No await between the check and this write, so two starts cannot both take the last room.
  ctx.events.transition(m.id, 'starting', undefined, fresh ? { restart_count: 0 } : {})
  try {
    if (m.state === 'suspended') await ctx.driver.thaw(m.id)
    else await ctx.driver.start(m.id, secrets)
  } catch (e) {
    const full = ctx.disk.asDiskFull(e, `machine ${m.id} failed to start`)
    if (full) {
      // Not the machine's fault: it goes back to rest, to be started again once there is room.
      ctx.events.transition(m.id, m.state, { type, source, request: { ...note, error: full.message, code: full.code } })
      throw full
    }
    const err = toHangarError(e, 'runtime_error')
    ctx.events.transition(m.id, 'failed', { type, source, request: { ...note, error: err.message } })
    ctx.logger.error({ machine: m.id, err: err.message, ...note }, 'start failed')
    throw new HangarError('runtime_error', `machine ${m.id} failed to start: ${err.message}`, { cause: e })
  }
  return ctx.events.transition(m.id, 'started', { type, source, ...(note ? { request: note } : {}) })
}

export interface StopOptions {
  signal?: string | number
  timeout?: string | number
}

function signalString(s: string | number | undefined): string | undefined {
  return typeof s === 'number' ? String(s) : s
}

/** Stops a started or suspended machine and records its exit; a no-op for one at rest. */
export async function runStop(ctx: Ctx, m: MachineRow, opts: StopOptions, source: EventSource): Promise<MachineRow> {
  if (m.state !== 'started' && m.state !== 'suspended') return m
  const config = m.config as MachineConfig
  const graceMs = parseDurationMs(opts.timeout ?? config.stop_config?.timeout ?? '5s') ?? 5000
  const signal = signalString(opts.signal ?? config.stop_config?.signal)
  ctx.events.transition(m.id, 'stopping', { type: 'stop', source })
  let exit: ExitInfo | null
  try {
    if (m.state === 'suspended') await ctx.driver.thaw(m.id)
    exit = await ctx.driver.stop(m.id, { ...(signal ? { signal } : {}), graceMs })
  } catch (e) {
    // Say what the runtime sees: a machine still running must stay stoppable, not turn 'failed'.
    const err = toHangarError(e, 'runtime_error')
    const seen = await ctx.driver.inspect(m.id).catch(() => null)
    const state = seen?.status === 'running' ? 'started' : seen?.status === 'paused' ? 'suspended' : 'stopped'
    ctx.events.transition(m.id, state, { type: 'stop', source, request: { error: err.message } })
    throw new HangarError(err.code === 'internal' ? 'runtime_error' : err.code, `machine ${m.id} failed to stop: ${err.message}`, { cause: e })
  }
  return ctx.events.transition(m.id, 'stopped', { type: 'exit', source: 'flyd', ...(exit ? { request: exitRequest(exit, true) } : {}) })
}

/**
 * Tears the machine down and marks it destroyed. On a full disk, destroying is how space comes
 * back: the runtime goes first even when 'destroying' cannot be written, and a final write that
 * fails is retried until it lands.
 */
export async function runDestroy(ctx: Ctx, m: MachineRow, source: EventSource): Promise<MachineRow> {
  try {
    ctx.events.transition(m.id, 'destroying')
  } catch (e) {
    if (!ctx.disk.asDiskFull(e, 'destroy')) throw e
  }
  try {
    await ctx.driver.destroy(m.id)
  } catch (e) {
    const err = toHangarError(e, 'runtime_error')
    ctx.events.transition(m.id, 'failed', { type: 'destroy', source, request: { error: err.message } })
    throw new HangarError('runtime_error', `machine ${m.id} could not be destroyed: ${err.message}`, {
      hint: 'retry the destroy with force=true; the daemon log has the failing step',
      cause: e,
    })
  }
  ctx.machineApi?.close(m.id)
  await dropCheckpoints(ctx, m.id)
  try {
    ctx.store.leases.delete(m.id)
    // Its volumes are free for another machine; their data stays.
    ctx.store.volumes.detachMachine(m.id)
    const destroyed = ctx.events.transition(m.id, 'destroyed', { type: 'destroy', source })
    // Secret versions only it was bound to can go now.
    tidySecrets(ctx, m.app_name)
    return destroyed
  } catch (e) {
    if (ctx.disk.asDiskFull(e, 'destroy')) ctx.resettle(m.id, 'destroy')
    throw e
  }
}

/** A destroyed machine's checkpoints (and their volume snapshots) go with it; what cannot be removed now is swept at the next start. */
async function dropCheckpoints(ctx: Ctx, machineId: string): Promise<void> {
  for (const row of ctx.store.checkpoints.list(machineId)) {
    try {
      await removeCheckpoint(ctx, row)
    } catch (e) {
      ctx.logger.warn({ machine: machineId, checkpoint: row.id, err: String(e) }, 'could not remove a checkpoint')
      if (ctx.disk.asDiskFull(e, 'destroy')) continue
      // Its row goes anyway: unrecorded frozen data is what the sweep at start removes.
      ctx.store.checkpoints.delete(machineId, row.id)
    }
  }
}
