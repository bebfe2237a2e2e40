/**
 * What happens when a machine's process ends on its own, noticed live (the
 * driver's exit feed) or at boot (reconcile): the exit is recorded with its
 * code, then the restart policy decides.
 */
import type { ExitInfo } from '../runtime/types.ts'
import { toHangarError } from '../errors.ts'
import { type Ctx } from './context.ts'
import { exitRequest, runDestroy, runStart } from './lifecycle.ts'
import { decideRestart } from './restart-policy.ts'
import type { MachineConfig } from './schemas.ts'

/** Handles one exit; safe to call twice for the same exit (the second sees the machine no longer started). */
export function handleExit(ctx: Ctx, id: string, exit: ExitInfo): Promise<void> {
  return ctx.queue.run(id, async () => {
    const m = ctx.store.machines.get(id)
    if (!m || m.state !== 'started') return
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
  })
}

function scheduleRestart(ctx: Ctx, id: string, delayMs: number): void {
  const timer = setTimeout(() => {
    ctx.pendingRestarts.delete(id)
    void ctx.queue.run(id, async () => {
      const m = ctx.store.machines.get(id)
      if (!m || m.state !== 'stopped') return
      const restarted = ctx.store.machines.update(id, { restart_count: m.restart_count + 1 })
      await runStart(ctx, restarted, 'flyd', 'restart')
    }).catch((e) => ctx.logger.error({ machine: id, err: toHangarError(e).message }, 'restart failed'))
  }, delayMs)
  timer.unref()
  ctx.pendingRestarts.set(id, timer)
}

/**
 * Boot-time reconciliation: the store says what should be, the driver what is.
 * Running machines are adopted; exits that happened while the daemon was down
 * are recorded and the restart policy applied; half-done operations finish.
 */
export async function reconcile(ctx: Ctx): Promise<{ adopted: number; exited: number; cleaned: number }> {
  const out = { adopted: 0, exited: 0, cleaned: 0 }
  const live = new Map(ctx.store.machines.live().map((m) => [m.id, m]))
  for (const id of await ctx.driver.list()) {
    if (live.has(id)) continue
    // Left by a create that died before its row landed, or a destroy that died after.
    await ctx.driver.destroy(id).catch((e) => ctx.logger.warn({ machine: id, err: String(e) }, 'orphan cleanup failed'))
    out.cleaned++
  }
  for (const m of live.values()) {
    if (m.state === 'creating' || m.state === 'destroying') {
      await ctx.queue.run(m.id, () => runDestroy(ctx, m, 'flyd')).catch(() => {})
      continue
    }
    const seen = await ctx.driver.inspect(m.id)
    const alive = seen.status === 'running' || seen.status === 'paused'
    if (alive) {
      const state = seen.status === 'paused' ? 'suspended' : 'started'
      if (m.state !== state) ctx.events.transition(m.id, state)
      out.adopted++
      continue
    }
    if (m.state === 'started' || m.state === 'starting' || m.state === 'suspended' || m.state === 'stopping' || m.state === 'replacing') {
      if (m.state !== 'started') ctx.events.transition(m.id, 'started')
      const exit = seen.exit ?? { exitCode: 255, signal: null, oomKilled: false, exitedAt: Date.now() }
      if (m.state === 'stopping') {
        ctx.events.transition(m.id, 'stopped', { type: 'exit', source: 'flyd', request: exitRequest(exit, true) })
      } else {
        await handleExit(ctx, m.id, exit)
      }
      out.exited++
    }
  }
  return out
}
