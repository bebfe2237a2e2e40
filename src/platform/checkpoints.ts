/**
 * Checkpoints, restore and fork, in the shape of the Sprites API: checkpoints
 * numbered "v1", "v2"… per machine, taken running or stopped (a running
 * machine is frozen for the instant of capture), restored in one call (a
 * running machine restarts on the restored disk), and any of them, or a
 * machine's current disk, seeding new machines. The runtime keeps the frozen
 * disks; the store says which exist. Rows are written only once the disk is
 * frozen and removed only after it is gone from the runtime, so a crash leaves
 * at worst an unrecorded disk, which `sweep` removes at the next start.
 *
 *   const cp = await platform.checkpoints.create('myapp', id, { comment: 'deps installed' })
 *   await platform.checkpoints.restore('myapp', id, cp.id)
 *   const forks = await platform.checkpoints.fork('myapp', id, { checkpoint: cp.id, count: 3 })
 */
import { HangarError } from '../errors.ts'
import type { VolumeSnapshotRequest } from '../runtime/index.ts'
import type { CheckpointRow } from '../store/index.ts'
import { type Ctx, loadMachine } from './context.ts'
import { runStart, runStop } from './lifecycle.ts'
import type { CreateOptions } from './machines.ts'
import { mutateMachine, type Guard } from './mutate.ts'
import { capture, checkpointRuntime, checkpointVolumes, removeCheckpoint } from './frozen.ts'
import { fork } from './fork.ts'
import type { MachineConfig } from '../ops/schemas.ts'
import { parse } from './validate.ts'
import type { MachineView } from './view.ts'

export { checkpointSchema, forkSchema, MAX_FORKS, type CheckpointView, type RestoreResult } from '../ops/checkpoints.ts'
import { checkpointSchema, type CheckpointView, type RestoreResult } from '../ops/checkpoints.ts'

/** Progress lines for clients that stream (NDJSON). */
export type Progress = (message: string) => void

const view = (r: CheckpointRow, volumes: CheckpointView['volumes']): CheckpointView => ({ id: r.id, create_time: r.create_time, comment: r.comment, source_id: r.source_id, size_bytes: r.size_bytes, volumes })

export interface CheckpointsDeps {
  /** The machines service's create, which forks go through (capacity, names, rows, start). */
  create: (app: string, input: unknown, opts: CreateOptions) => Promise<MachineView>
  destroy: (app: string, id: string, opts: { force?: boolean }) => Promise<unknown>
  /** How many checkpoints a machine keeps; past it the oldest without a comment goes. */
  retention: number
}

export function checkpointsService(ctx: Ctx, deps: CheckpointsDeps) {
  const { store, events, logger } = ctx

  function find(machineId: string, cp: string): CheckpointRow {
    const row = store.checkpoints.get(machineId, cp)
    if (!row) throw new HangarError('checkpoint_not_found', `machine ${machineId} has no checkpoint ${cp}`, { details: { checkpoint: cp } })
    return row
  }

  /** The oldest checkpoint without a comment, when the machine is at its retention count; throws when all have one. */
  function evictable(machineId: string): CheckpointRow | null {
    const rows = store.checkpoints.list(machineId)
    if (rows.length < deps.retention) return null
    const victim = rows.find((r) => r.comment === '')
    if (!victim) {
      throw new HangarError('checkpoint_limit', `machine ${machineId} keeps ${deps.retention} checkpoints and every one has a comment`, {
        details: { retention: deps.retention },
      })
    }
    return victim
  }

  const remove = (row: CheckpointRow): Promise<void> => removeCheckpoint(ctx, row)
  const viewOf = (row: CheckpointRow): CheckpointView => view(row, store.checkpoints.volumes(row.machine_id, row.id))

  return {
    async create(app: string, id: string, input: unknown, guard: Guard = {}, progress: Progress = () => {}): Promise<CheckpointView> {
      const req = parse(checkpointSchema, input ?? {}, 'checkpoint request')
      checkpointRuntime(ctx)
      ctx.disk.assertRoom()
      return mutateMachine(ctx, app, id, guard, 'checkpoint', async (m) => {
        const victim = evictable(id)
        const n = store.checkpoints.nextNumber(id)
        const row: Omit<CheckpointRow, 'size_bytes'> = {
          machine_id: id, id: `v${n}`, key: `${id}-v${n}`, create_time: new Date().toISOString(), comment: req.comment ?? '', source_id: store.checkpoints.source(id),
        }
        progress(`capturing the disk of machine ${id} as ${row.id}`)
        let volumes: VolumeSnapshotRequest[] = []
        const sizeBytes = await capture(ctx, m, row.key, (size, taken) => {
          store.checkpoints.insert({ ...row, size_bytes: size })
          for (const v of taken) store.checkpoints.addVolume(id, row.id, v.volume, v.snapshot)
          volumes = taken
        })
        events.record(id, 'checkpoint', store.machines.get(id)!.state, 'user', { checkpoint: row.id })
        if (victim) {
          progress(`removing ${victim.id}, the oldest checkpoint without a comment (retention ${deps.retention})`)
          await remove(victim).catch((e: unknown) => logger.warn({ machine: id, checkpoint: victim.id, err: String(e) }, 'could not remove a checkpoint past retention'))
        }
        return view({ ...row, size_bytes: sizeBytes }, volumes.map((v) => ({ volume_id: v.volume, snapshot_id: v.snapshot })))
      })
    },

    list(app: string, id: string): CheckpointView[] {
      loadMachine(ctx, app, id)
      return store.checkpoints.list(id).map(viewOf)
    },

    get(app: string, id: string, cp: string): CheckpointView {
      loadMachine(ctx, app, id)
      return viewOf(find(id, cp))
    },

    delete(app: string, id: string, cp: string, guard: Guard = {}): Promise<{ ok: true }> {
      find(loadMachine(ctx, app, id).id, cp)
      return mutateMachine(ctx, app, id, guard, 'checkpoint', async () => {
        await remove(find(id, cp))
        return { ok: true }
      })
    },

    /**
     * Puts the machine's disk back as it was at `cp`, and each volume it still mounts as it was then;
     * a running machine is stopped and started again on them, a stopped one stays stopped.
     */
    restore(app: string, id: string, cp: string, guard: Guard = {}, progress: Progress = () => {}): Promise<RestoreResult> {
      return mutateMachine(ctx, app, id, guard, 'restore', async (m) => {
        const row = find(id, cp)
        const cps = checkpointRuntime(ctx)
        const mounted = new Set(((m.config as MachineConfig).mounts ?? []).map((x) => x.volume))
        const frozen = checkpointVolumes(ctx, row)
        const volumes = [...frozen].filter(([v]) => mounted.has(v)).map(([volume, snapshot]) => ({ volume, snapshot }))
        const wasRunning = m.state === 'started' || m.state === 'suspended'
        let current = m
        if (wasRunning) {
          progress(`stopping machine ${id}`)
          current = await runStop(ctx, m, {}, 'user')
        }
        progress(`restoring the disk of machine ${id}${volumes.length ? ` and ${volumes.length} volume(s)` : ''} to ${row.id}`)
        // Each volume under its own lock too, as the volumes API takes it: no extend or snapshot lands mid-swap.
        const swap = volumes.reduce((inner, v) => () => ctx.queue.run(v.volume, inner), () => cps.restore(id, row.key, volumes))
        await swap()
        store.checkpoints.setSource(id, row.id)
        events.record(id, 'restore', current.state, 'user', { checkpoint: row.id })
        if (wasRunning) {
          progress(`starting machine ${id}`)
          current = await runStart(ctx, store.machines.get(id)!, 'user', 'start', undefined, true)
        }
        return {
          ok: true, checkpoint: viewOf(row), state: store.machines.get(id)!.state,
          volumes_restored: volumes.map((v) => v.volume),
          // Taken with the checkpoint but no longer the machine's (unmounted since, or destroyed).
          volumes_skipped: store.checkpoints.volumes(id, row.id).map((l) => l.volume_id).filter((v) => !volumes.some((x) => x.volume === v)),
        }
      })
    },

    /** New machines whose disks (and volumes) start as a checkpoint's, or as the machine's now: fork.ts. */
    fork(app: string, id: string, input: unknown, guard: Guard = {}): Promise<MachineView | MachineView[]> {
      return fork(ctx, deps, app, id, input, guard)
    },

    /** Frozen disks the store does not name: a crash between capture and record, or a fork's seed. */
    async sweep(): Promise<number> {
      const cps = ctx.driver.checkpoints
      if (!cps) return 0
      const known = new Set(store.checkpoints.keys())
      let removed = 0
      for (const key of await cps.keys()) {
        if (known.has(key)) continue
        await cps.remove(key)
        removed++
      }
      return removed
    },
  }
}

export type CheckpointsService = ReturnType<typeof checkpointsService>
