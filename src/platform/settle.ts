/**
 * Repair after failed writes. On a full disk a state change can happen in the
 * runtime while its row cannot be written (a start whose 'started' did not
 * land, an exit conmon could not record): such machines are read back from the
 * runtime, as at boot, every few seconds until the write lands, and all of them
 * once the disk has room again.
 */
import { toHangarError } from '../errors.ts'
import type { Ctx, SettleHow } from './context.ts'
import { reconcileOne, waitForRoomMs } from './exits.ts'
import { runDestroy } from './lifecycle.ts'

/**
 * Retries, every few seconds until its writes land, what a failed write (a full disk) left
 * undone for a machine: its row read back from the runtime as at boot, or its destroy finished.
 */
export function resettle(ctx: Ctx, id: string, how: SettleHow = 'reconcile'): void {
  const pending = ctx.unsettled.get(id)
  if (pending && (pending.how === how || pending.how === 'destroy')) return
  if (pending) clearTimeout(pending.timer)
  const timer = setTimeout(() => {
    ctx.unsettled.delete(id)
    ctx.queue
      .run(id, async () => {
        const m = ctx.store.machines.get(id)
        if (!m || m.state === 'destroyed') return
        if (how === 'destroy') await runDestroy(ctx, m, 'flyd')
        else await reconcileOne(ctx, id, { adopted: 0, exited: 0 })
      })
      .then(
        () => ctx.logger.info({ machine: id, how }, 'machine state written down after an earlier failed write'),
        (e) => {
          ctx.logger.warn({ machine: id, how, err: toHangarError(e).message }, 'machine state still not written; trying again')
          resettle(ctx, id, how)
        },
      )
  }, waitForRoomMs)
  timer.unref()
  ctx.unsettled.set(id, { timer, how })
}

/** Once a full disk has room again: every machine read back from the runtime (exits conmon could not write down, failed writes). */
export function resettleAll(ctx: Ctx): void {
  for (const m of ctx.store.machines.live()) {
    ctx.queue.run(m.id, () => reconcileOne(ctx, m.id, { adopted: 0, exited: 0 })).catch((e) => {
      ctx.logger.warn({ machine: m.id, err: toHangarError(e).message }, 'could not read the machine back after the disk had room again')
      ctx.resettle(m.id)
    })
  }
}
