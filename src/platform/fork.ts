/**
 * Forks: new machines with a machine's config whose disks start as one of its
 * checkpoints, or as its disk now (frozen for an instant under a key of its own,
 * removed once the forks exist). A machine's volumes fork with it: each fork
 * mounts new volumes made from the snapshots taken with the seed, so no two
 * machines ever share one. All or nothing: if one fork cannot be made, the
 * machines and volumes already made are removed again.
 */
import { HangarError } from '../errors.ts'
import { ulid } from '../lib/ids.ts'
import type { VolumeSnapshotRequest } from '../runtime/index.ts'
import { type Ctx, loadMachine } from './context.ts'
import { checkpointRuntime, checkpointVolumes, dropFrozen, volumeRequests } from './frozen.ts'
import type { CheckpointsDeps } from './checkpoints.ts'
import { forkSchema } from './checkpoints.ts'
import { mutateMachine, type Guard } from './mutate.ts'
import type { MachineConfig } from '../ops/schemas.ts'
import { parse } from './validate.ts'
import type { MachineView } from './view.ts'
import { makeVolume, removeVolume, volumeId } from './volumes.ts'
import { GiB } from '../rootfs/index.ts'


interface Seed {
  key: string
  /** Lineage for the forks' next checkpoints: "<machine>/v3", or null. */
  source: string | null
  /** Volume id → the snapshot its forks start from. */
  volumes: Map<string, string>
  /** Made for this fork only: removed when the forks exist. */
  temporary: boolean
}

function namesOf(req: { name?: string | undefined; count?: number | undefined }): (string | undefined)[] {
  const count = req.count ?? 1
  if (req.name === undefined) return Array<undefined>(count).fill(undefined)
  return req.count === undefined ? [req.name] : Array.from({ length: count }, (_, i) => `${req.name}-${i + 1}`)
}

export async function fork(ctx: Ctx, deps: CheckpointsDeps, app: string, id: string, input: unknown, guard: Guard): Promise<MachineView | MachineView[]> {
  const req = parse(forkSchema, input ?? {}, 'fork request')
  loadMachine(ctx, app, id)
  const names = namesOf(req)
  for (const name of names) {
    if (name !== undefined && ctx.store.machines.nameTaken(app, name)) throw new HangarError('name_taken', `a machine named ${name} already exists in app ${app}`)
  }
  const cps = checkpointRuntime(ctx)
  ctx.disk.assertRoom()
  // Under the source's lock to the end: its checkpoint (or its config) cannot go or change while forks are made from it.
  return mutateMachine(ctx, app, id, guard, 'fork', async (m) => {
    let seed: Seed
    if (req.checkpoint !== undefined) {
      const row = ctx.store.checkpoints.get(id, req.checkpoint)
      if (!row) throw new HangarError('checkpoint_not_found', `machine ${id} has no checkpoint ${req.checkpoint}`, { details: { checkpoint: req.checkpoint } })
      seed = { key: row.key, source: `${id}/${row.id}`, volumes: checkpointVolumes(ctx, row), temporary: false }
    } else {
      const key = `${id}-fork-${ulid().toLowerCase()}`
      const requests: VolumeSnapshotRequest[] = volumeRequests(ctx, m)
      await cps.capture(id, key, requests)
      const lineage = ctx.store.checkpoints.source(id)
      seed = { key, source: lineage === null ? null : `${id}/${lineage}`, volumes: new Map(requests.map((r) => [r.volume, r.snapshot])), temporary: true }
    }
    try {
      const made = await Promise.allSettled(names.map((name) => forkOne(ctx, deps, app, m.config as MachineConfig, seed, name, req.skip_launch === true)))
      const failed = made.find((r) => r.status === 'rejected')
      if (failed) {
        for (const r of made) if (r.status === 'fulfilled') await undo(ctx, deps, app, r.value)
        throw failed.reason
      }
      const machines = made.map((r) => (r as PromiseFulfilledResult<{ machine: MachineView }>).value.machine)
      return req.count === undefined ? machines[0]! : machines
    } finally {
      if (seed.temporary) await dropFrozen(ctx, seed.key, [...seed.volumes.values()])
    }
  })
}

/** One fork: its volumes from the seed's snapshots, then the machine mounting them. */
async function forkOne(ctx: Ctx, deps: CheckpointsDeps, app: string, config: MachineConfig, seed: Seed, name: string | undefined, skipLaunch: boolean): Promise<{ machine: MachineView; volumes: string[] }> {
  const volumes: string[] = []
  try {
    const mounts = []
    for (const mount of config.mounts ?? []) {
      const snapshot = seed.volumes.get(mount.volume)
      const from = ctx.store.volumes.get(mount.volume)
      if (!snapshot || !from) {
        throw new HangarError('seed_volume_missing', `the checkpoint holds no copy of volume ${mount.volume}, which the machine mounts at ${mount.path}`, { details: { volume: mount.volume } })
      }
      const vid = volumeId()
      await makeVolume(ctx, { id: vid, app, name: from.name, bytes: from.size_gb * GiB, seed: { snapshot } })
      volumes.push(vid)
      mounts.push({ ...mount, volume: vid })
    }
    const forked = mounts.length ? { ...config, mounts } : config
    const machine = await deps.create(app, { config: forked, ...(name === undefined ? {} : { name }), ...(skipLaunch ? { skip_launch: true } : {}) }, { seed: { key: seed.key, source: seed.source } })
    return { machine, volumes }
  } catch (e) {
    for (const v of volumes) await removeVolume(ctx, ctx.store.volumes.get(v)!).catch(() => {})
    throw e
  }
}

async function undo(ctx: Ctx, deps: CheckpointsDeps, app: string, made: { machine: MachineView; volumes: string[] }): Promise<void> {
  await deps.destroy(app, made.machine.id, { force: true }).catch(() => {})
  for (const v of made.volumes) {
    const row = ctx.store.volumes.get(v)
    if (row) await removeVolume(ctx, row).catch(() => {})
  }
}
