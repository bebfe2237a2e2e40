/**
 * Volumes in the shape of Fly's Machines API: sized filesystems of an app ("vol_…") that
 * outlive every machine, mounted by one machine at a time (`config.mounts`), grown in place,
 * snapshotted ("vs_…"), and made from a snapshot or forked from another volume. The runtime
 * keeps the data (Driver.volumes); the store says which volumes exist and who holds each.
 * A row is written only once the runtime made the volume and removed only after it is gone
 * there, so a crash leaves at worst an unrecorded volume, which `sweep` removes at start.
 * Operations on one volume run one at a time (ctx.queue, keyed by the volume id).
 *
 *   const v = await platform.volumes.create('myapp', { name: 'data', size_gb: 1 })
 *   await platform.machines.create('myapp', { config: { image: 'debian', mounts: [{ volume: v.id, path: '/data' }] } })
 *   await platform.volumes.extend('myapp', v.id, { size_gb: 2 })
 */
import { randomBytes } from 'node:crypto'
import { HangarError } from '../errors.ts'
import type { DriverVolumes } from '../runtime/index.ts'

type VolumeSeed = { snapshot: string } | { volume: string }
import type { VolumeRow, VolumeSnapshotRow } from '../store/index.ts'
import type { Ctx } from './context.ts'
import type { MachineConfig } from '../ops/schemas.ts'
import { parse } from './validate.ts'
import { GiB } from '../rootfs/index.ts'
import type { z } from 'zod'
import { createVolumeSchema, DEFAULT_SNAPSHOT_RETENTION, DEFAULT_VOLUME_GB as DEFAULT_SIZE_GB, extendVolumeSchema, updateVolumeSchema, type VolumeSnapshotView, type VolumeView } from '../ops/volumes.ts'

const BLOCK = 4096

export const volumeId = (): string => `vol_${[...randomBytes(16)].map((b) => '0123456789abcdefghijklmnopqrstuvwxyz'[b % 36]).join('')}`
export const snapshotId = (): string => `vs_${[...randomBytes(16)].map((b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'[b % 62]).join('')}`

export function runtime(ctx: Ctx): DriverVolumes {
  const v = ctx.driver.volumes
  if (!v?.supported) {
    throw new HangarError('volumes_unsupported', v
      ? 'this host has no machines filesystem (the daemon runs with --machines-fs none), so it cannot give a volume a size it enforces'
      : `the ${ctx.driver.name} runtime has no volumes`)
  }
  return v
}

function load(ctx: Ctx, app: string, id: string): VolumeRow {
  const v = ctx.store.volumes.get(id)
  if (!v || v.app_name !== app) {
    if (!ctx.store.apps.get(app)) throw new HangarError('app_not_found', `app not found: ${app}`)
    throw new HangarError('volume_not_found', `volume not found: ${id} (in app ${app})`, { details: { volume: id } })
  }
  return v
}

/** The machine holding the volume: one mounting it now (being created or updated), or one that exists with it attached. */
function holder(ctx: Ctx, v: VolumeRow): string | null {
  const claimed = ctx.volumeClaims.get(v.id)
  if (claimed) return claimed
  const m = v.attached_machine_id ? ctx.store.machines.get(v.attached_machine_id) : undefined
  return m && m.state !== 'destroyed' ? m.id : null
}

function inUse(v: VolumeRow, machine: string, what: string): HangarError {
  return new HangarError('volume_in_use', `volume ${v.id} (${v.name}) is attached to machine ${machine}; ${what}`, {
    hint: `destroy machine ${machine}, or update it without the volume in config.mounts; fork the volume (source_volume_id) to give another machine a copy`,
    details: { volume: v.id, attached_machine_id: machine },
  })
}

/**
 * Claims the volumes a machine's config mounts, for machine `machineId` of `app`: unknown ids
 * and volumes another machine holds are refused before anything is made. `commit` (inside the
 * store transaction that records the machine) attaches them and frees any it no longer mounts;
 * `release` lets the claim go either way.
 */
export function claimVolumes(ctx: Ctx, app: string, machineId: string, mounts: MachineConfig['mounts']): { commit(): void; release(): void } {
  const claimed: string[] = []
  const release = (): void => {
    for (const id of claimed) if (ctx.volumeClaims.get(id) === machineId) ctx.volumeClaims.delete(id)
  }
  if (mounts?.length) runtime(ctx)
  for (const m of mounts ?? []) {
    const v = ctx.store.volumes.get(m.volume)
    if (!v || v.app_name !== app) {
      release()
      throw new HangarError('volume_not_found', `config.mounts names volume ${m.volume}, which app ${app} does not have`, {
        hint: 'create it first with POST /v1/apps/{app}/volumes, or list the app\'s volumes with GET /v1/apps/{app}/volumes',
        details: { volume: m.volume },
      })
    }
    const h = holder(ctx, v)
    if (h && h !== machineId) {
      release()
      throw inUse(v, h, `machine ${machineId} cannot mount it too`)
    }
    ctx.volumeClaims.set(v.id, machineId)
    claimed.push(v.id)
  }
  return {
    commit() {
      ctx.store.volumes.detachMachine(machineId)
      for (const id of claimed) ctx.store.volumes.update(id, { attached_machine_id: machineId })
    },
    release,
  }
}

/** Makes a volume in the runtime, then its row (a failure in between takes the volume away again). */
export async function makeVolume(ctx: Ctx, o: { id: string; app: string; name: string; bytes: number; seed?: VolumeSeed; snapshotRetention?: number; autoBackup?: boolean }): Promise<VolumeRow> {
  const rt = runtime(ctx)
  await rt.create(o.id, o.bytes, o.seed)
  const row: VolumeRow = {
    id: o.id, app_name: o.app, name: o.name, size_gb: Math.round(o.bytes / GiB), region: ctx.region, encrypted: 0,
    snapshot_retention: o.snapshotRetention ?? DEFAULT_SNAPSHOT_RETENTION, auto_backup_enabled: o.autoBackup === false ? 0 : 1,
    attached_machine_id: null, created_at: new Date().toISOString(),
  }
  try {
    ctx.store.volumes.insert(row)
  } catch (e) {
    await rt.remove(o.id).catch(() => {})
    throw e
  }
  return row
}

/** Removes an app's volumes and their snapshots (the app is being destroyed; its machines are gone). */
export async function dropAppVolumes(ctx: Ctx, app: string): Promise<void> {
  for (const v of ctx.store.volumes.list(app)) await ctx.queue.run(v.id, () => removeVolume(ctx, v))
}

export async function removeVolume(ctx: Ctx, v: VolumeRow): Promise<void> {
  const rt = runtime(ctx)
  for (const s of ctx.store.volumes.snapshots(v.id)) await rt.removeSnapshot(s.id)
  await rt.remove(v.id)
  ctx.store.volumes.delete(v.id)
}

export function volumesService(ctx: Ctx) {
  const { store } = ctx

  async function view(v: VolumeRow, state: VolumeView['state'] = 'created'): Promise<VolumeView> {
    const bytes = v.size_gb * GiB
    const used = state === 'created' ? await runtime(ctx).usage(v.id).then((u) => u.used, () => 0) : 0
    const free = Math.max(0, bytes - used)
    return {
      id: v.id, name: v.name, state, size_gb: v.size_gb, region: v.region, zone: ctx.region, encrypted: v.encrypted === 1,
      attached_machine_id: state === 'created' ? holder(ctx, v) : null, attached_alloc_id: null, created_at: v.created_at,
      host_dedication_key: '', host_status: 'ok', fstype: 'btrfs', snapshot_retention: v.snapshot_retention, auto_backup_enabled: v.auto_backup_enabled === 1,
      block_size: BLOCK, blocks: Math.floor(bytes / BLOCK), blocks_free: Math.floor(free / BLOCK), blocks_avail: Math.floor(free / BLOCK), bytes_total: bytes, bytes_used: used,
    }
  }

  const snapshotView = (s: VolumeSnapshotRow, retention: number): VolumeSnapshotView => ({
    id: s.id, created_at: s.created_at, digest: s.digest, size: s.size, status: 'created', retention_days: retention, volume_size: s.volume_size,
  })

  /** The seed of a new volume and the least size it may have. */
  function seedOf(app: string, req: z.infer<typeof createVolumeSchema>): { seed?: { snapshot: string } | { volume: string }; minBytes: number } {
    if (req.source_volume_id) return { seed: { volume: req.source_volume_id }, minBytes: load(ctx, app, req.source_volume_id).size_gb * GiB }
    if (req.snapshot_id) {
      const s = store.volumes.snapshot(req.snapshot_id)
      if (!s || store.volumes.get(s.volume_id)?.app_name !== app) {
        throw new HangarError('volume_snapshot_not_found', `snapshot not found: ${req.snapshot_id} (in app ${app})`, { details: { snapshot: req.snapshot_id } })
      }
      return { seed: { snapshot: s.id }, minBytes: s.volume_size }
    }
    return { minBytes: 0 }
  }

  return {
    async list(app: string): Promise<VolumeView[]> {
      if (!store.apps.get(app)) throw new HangarError('app_not_found', `app not found: ${app}`)
      return Promise.all(store.volumes.list(app).map((v) => view(v)))
    },

    get(app: string, id: string): Promise<VolumeView> {
      return view(load(ctx, app, id))
    },

    /** Empty, from a snapshot, or forked from another volume (O(1) either way); refused, naming the limit, when the host cannot hold it. */
    async create(app: string, input: unknown): Promise<VolumeView> {
      const req = parse(createVolumeSchema, input, 'volume request')
      if (!store.apps.get(app)) throw new HangarError('app_not_found', `app not found: ${app}`)
      if (req.region && req.region !== ctx.region) {
        throw new HangarError('invalid_argument', `region ${req.region} is not this host's: volumes here are in ${ctx.region}`, { hint: `leave region out, or send "${ctx.region}"` })
      }
      runtime(ctx)
      const { seed, minBytes } = seedOf(app, req)
      const bytes = req.size_gb ? req.size_gb * GiB : seed ? minBytes : DEFAULT_SIZE_GB * GiB
      if (bytes < minBytes) {
        throw new HangarError('out_of_range', `size_gb ${req.size_gb} is smaller than its source (${minBytes / GiB} GB)`, { hint: `ask for at least ${Math.ceil(minBytes / GiB)} GB, or leave size_gb out to get the source's size` })
      }
      const id = volumeId()
      const make = async (): Promise<VolumeView> => view(await makeVolume(ctx, {
        id, app, name: req.name, bytes, ...(seed ? { seed } : {}),
        ...(req.snapshot_retention ? { snapshotRetention: req.snapshot_retention } : {}), ...(req.auto_backup_enabled === false ? { autoBackup: false } : {}),
      }))
      // A fork reads its source: under the source's lock, so it is not destroyed or extended meanwhile.
      return ctx.queue.run(id, () => (seed && 'volume' in seed ? ctx.queue.run(seed.volume, make) : make()))
    },

    /** Fly's update: the snapshot settings. */
    async update(app: string, id: string, input: unknown): Promise<VolumeView> {
      const req = parse(updateVolumeSchema, input, 'volume update')
      load(ctx, app, id)
      return ctx.queue.run(id, async () => {
        load(ctx, app, id)
        return view(store.volumes.update(id, {
          ...(req.snapshot_retention !== undefined ? { snapshot_retention: req.snapshot_retention } : {}),
          ...(req.auto_backup_enabled !== undefined ? { auto_backup_enabled: req.auto_backup_enabled ? 1 : 0 } : {}),
        }))
      })
    },

    /** Grows the volume at once, mounted or not (needs_restart is false); a smaller size is refused. */
    async extend(app: string, id: string, input: unknown): Promise<{ needs_restart: boolean; volume: VolumeView }> {
      const req = parse(extendVolumeSchema, input, 'volume extend')
      load(ctx, app, id)
      return ctx.queue.run(id, async () => {
        const v = load(ctx, app, id)
        if (req.size_gb < v.size_gb) {
          throw new HangarError('out_of_range', `volume ${id} is ${v.size_gb} GB; a volume can grow but not shrink to ${req.size_gb} GB`, {
            hint: `ask for more than ${v.size_gb} GB, or create a smaller volume and copy what you need into it`,
          })
        }
        if (req.size_gb > v.size_gb) {
          await runtime(ctx).extend(id, req.size_gb * GiB)
          store.volumes.update(id, { size_gb: req.size_gb })
        }
        return { needs_restart: false, volume: await view(load(ctx, app, id)) }
      })
    },

    /** Refused while a machine that exists holds it; its snapshots go with it. Answers the volume with state "destroyed". */
    async destroy(app: string, id: string): Promise<VolumeView> {
      load(ctx, app, id)
      return ctx.queue.run(id, async () => {
        const v = load(ctx, app, id)
        const h = holder(ctx, v)
        if (h) throw inUse(v, h, 'a volume in use cannot be destroyed')
        const gone = await view(v, 'destroyed')
        await removeVolume(ctx, v)
        return gone
      })
    },

    snapshots(app: string, id: string): VolumeSnapshotView[] {
      const v = load(ctx, app, id)
      return store.volumes.snapshots(id).map((s) => snapshotView(s, v.snapshot_retention))
    },

    /** A read-only snapshot of the volume as it is now, mounted or not (O(1)). */
    async snapshot(app: string, id: string): Promise<VolumeSnapshotView> {
      load(ctx, app, id)
      return ctx.queue.run(id, async () => {
        const v = load(ctx, app, id)
        const sid = snapshotId()
        const made = await runtime(ctx).snapshot(id, sid)
        const row: VolumeSnapshotRow = { id: sid, volume_id: id, created_at: new Date().toISOString(), size: made.sizeBytes, digest: `btrfs:${made.uuid}`, volume_size: v.size_gb * GiB }
        try {
          store.volumes.insertSnapshot(row)
        } catch (e) {
          await runtime(ctx).removeSnapshot(sid).catch(() => {})
          throw e
        }
        return snapshotView(row, v.snapshot_retention)
      })
    },

    /** Removes volumes and snapshots on disk that no row names (a crash between making one and recording it). */
    async sweep(): Promise<number> {
      const rt = ctx.driver.volumes
      if (!rt?.supported) return 0
      const known = new Set(store.volumes.ids())
      const knownSnapshots = new Set(store.volumes.snapshotIds())
      let removed = 0
      for (const id of await rt.ids()) if (!known.has(id)) await rt.remove(id).then(() => removed++)
      for (const id of await rt.snapshotIds()) if (!knownSnapshots.has(id)) await rt.removeSnapshot(id).then(() => removed++)
      return removed
    },
  }
}

export type VolumesService = ReturnType<typeof volumesService>
