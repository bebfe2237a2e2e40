/**
 * What happens when a machine's process ends on its own, noticed live (the
 * driver's exit feed) or at boot (reconcile): the exit is recorded with its
 * code, then the restart policy decides.
 */
import type { ExitInfo } from '../runtime/types.ts'
import type { MachineRow } from '../store/index.ts'
import { isDiskFull, toHangarError } from '../errors.ts'
import type { Ctx } from './context.ts'
import { exitRequest, runDestroy, runStart, runStop } from './lifecycle.ts'
import { decideRestart } from './restart-policy.ts'
import type { MachineConfig } from '../ops/schemas.ts'

/** Handles one exit; safe to call twice for the same exit (the second sees the machine no longer running). */
export function handleExit(ctx: Ctx, id: string, exit: ExitInfo): Promise<void> {
  return ctx.queue.run(id, () => recordExit(ctx, id, exit))
}

/** The body of handleExit, for callers that already hold the machine's lock. */
async function recordExit(ctx: Ctx, id: string, exit: ExitInfo): Promise<void> {
  const m = ctx.store.machines.get(id)
  // 'starting' too: a daemon killed between runc start and the 'started' row.
  if (!m || (m.state !== 'started' && m.state !== 'starting')) return
  // An exit from a run that a restart has already replaced.
  const now = await ctx.driver.inspect(id)
  if (now.status === 'running' || now.status === 'paused') return
  const config = m.config as MachineConfig
  ctx.logger.info({ machine: id, exit_code: exit.exitCode, oom: exit.oomKilled }, 'machine exited')
  const decision = decideRestart(config.restart, exit.exitCode, m.restart_count)
  ctx.events.transition(id, 'stopped', { type: 'exit', source: 'flyd', request: { ...exitRequest(exit, false), restarting: decision.restart } })
  if (config.auto_destroy && !decision.restart) {
    await runDestroy(ctx, ctx.store.machines.get(id)!, 'flyd').catch((e) => ctx.logger.error({ machine: id, err: String(e) }, 'auto_destroy failed'))
    return
  }
  if (decision.restart) scheduleRestart(ctx, id, decision.delayMs)
}

/**
 * Restarts a stopped machine after `delayMs`. Each attempt that fails to start
 * counts as a restart and is retried with the policy's backoff, so `always`
 * keeps trying; a user action on the machine cancels the timer. Whatever goes
 * wrong inside, the daemon stays up and the machine is looked at again.
 */
function scheduleRestart(ctx: Ctx, id: string, delayMs: number): void {
  const timer = setTimeout(() => {
    if (ctx.pendingRestarts.get(id) !== timer) return
    ctx.queue.run(id, () => restartNow(ctx, id, timer)).catch((e) => {
      ctx.logger.error({ machine: id, err: toHangarError(e).message }, 'restart failed; the machine is looked at again in a few seconds')
      ctx.resettle(id)
    })
  }, delayMs)
  timer.unref()
  ctx.pendingRestarts.set(id, timer)
}

/** How long a restart waits when the disk is full or the host has no room: neither spends one of the machine's retries. */
export const waitForRoomMs = 5000

async function restartNow(ctx: Ctx, id: string, timer: NodeJS.Timeout): Promise<void> {
  if (ctx.pendingRestarts.get(id) !== timer) return
  ctx.pendingRestarts.delete(id)
  const m = ctx.store.machines.get(id)
  if (!m || m.state !== 'stopped') return
  try {
    const restarted = ctx.store.machines.update(id, { restart_count: m.restart_count + 1 })
    await runStart(ctx, restarted, 'flyd', 'restart')
  } catch (e) {
    const err = toHangarError(e)
    if (err.code === 'disk_full' || err.code === 'capacity_exceeded') {
      ctx.logger.warn({ machine: id, code: err.code, err: err.message }, `restart postponed by ${waitForRoomMs} ms`)
      notePostponed(ctx, m, err.code, err.message)
      scheduleRestart(ctx, id, waitForRoomMs)
      return
    }
    ctx.logger.error({ machine: id, err: err.message }, 'restart failed')
    const again = decideRestart((m.config as MachineConfig).restart, 1, m.restart_count + 1)
    if (again.restart) {
      ctx.events.transition(id, 'stopped')
      scheduleRestart(ctx, id, again.delayMs)
    }
  }
}

/** Puts the retry back and says why the machine waits, once per wait; on a full disk the log line has to do. */
function notePostponed(ctx: Ctx, m: MachineRow, code: string, message: string): void {
  try {
    const last = ctx.store.events.list(m.id, 1)[0]
    const said = last?.type === 'restart' && last.request?.restarting === true && last.request.code === code
    const event = said ? undefined : { type: 'restart', source: 'flyd' as const, request: { error: message, code, restarting: true } }
    ctx.events.transition(m.id, 'stopped', event, { restart_count: m.restart_count })
  } catch (e) {
    // On a full disk the 'restart postponed' log line has to do.
    if (!isDiskFull(e)) ctx.logger.warn({ machine: m.id, err: toHangarError(e).message }, 'could not record the postponed restart')
  }
}

/** Whether the machine's last event says a restart is due (a timer the daemon lost): an exit to restart, or a restart waiting for room. */
function restartWasPending(ctx: Ctx, id: string): boolean {
  const last = ctx.store.events.list(id, 1)[0]
  return (last?.type === 'exit' || last?.type === 'restart') && last.request?.restarting === true
}

/**
 * Boot-time reconciliation: the store says what should be, the driver what is.
 * Running machines are adopted; exits that happened while the daemon was down
 * are recorded and the restart policy applied; half-done operations finish;
 * restarts whose timer died with the last daemon are scheduled again. Each
 * machine is reconciled under its own lock, so the live exit feed cannot interleave.
 */
export async function reconcile(ctx: Ctx): Promise<{ adopted: number; exited: number; cleaned: number }> {
  const out = { adopted: 0, exited: 0, cleaned: 0 }
  const live = new Map(ctx.store.machines.live().map((m) => [m.id, m]))
  for (const id of await ctx.driver.list()) {
    if (live.has(id)) continue
    // Left by a create that died before its row landed, or a destroy that died after.
    ctx.machineApi?.close(id)
    await ctx.driver.destroy(id).catch((e) => ctx.logger.warn({ machine: id, err: String(e) }, 'orphan cleanup failed'))
    out.cleaned++
  }
  for (const id of live.keys()) {
    await ctx.queue.run(id, () => reconcileOne(ctx, id, out)).catch((e) => ctx.logger.error({ machine: id, err: String(e) }, 'reconcile failed'))
  }
  return out
}

/** One machine's row brought in line with the runtime; the caller holds its lock. Also run after a failed write (settle.ts). */
export async function reconcileOne(ctx: Ctx, id: string, out: { adopted: number; exited: number }): Promise<void> {
  const m = ctx.store.machines.get(id)
  if (!m) return
  if (m.state === 'creating' || m.state === 'destroying') {
    await runDestroy(ctx, m, 'flyd')
    return
  }
  const seen = await ctx.driver.inspect(id)
  const alive = seen.status === 'running' || seen.status === 'paused'
  if (alive) {
    if (m.state === 'stopping') {
      // The user asked for a stop that the last daemon did not finish: finish it.
      ctx.events.transition(id, 'started')
      await runStop(ctx, ctx.store.machines.get(id)!, {}, 'flyd')
      return
    }
    const state = seen.status === 'paused' ? 'suspended' : 'started'
    if (m.state !== state) ctx.events.transition(id, state)
    out.adopted++
    return
  }
  if (m.state === 'stopped' && restartWasPending(ctx, id)) {
    scheduleRestart(ctx, id, 0)
    return
  }
  const exit = seen.exit ?? { exitCode: 255, signal: null, oomKilled: false, exitedAt: Date.now() }
  if (m.state === 'stopping' || m.state === 'suspending' || m.state === 'replacing') {
    // An operation cut short with no process left: the machine is at rest.
    ctx.events.transition(id, 'stopped', { type: 'exit', source: 'flyd', request: exitRequest(exit, m.state === 'stopping') })
    out.exited++
    return
  }
  if (m.state === 'started' || m.state === 'starting' || m.state === 'suspended') {
    if (m.state !== 'started') ctx.events.transition(id, 'started')
    await recordExit(ctx, id, exit)
    out.exited++
  }
}
