/** Volumes in the Fly Machines API's shape: /v1/apps/{app}/volumes (create, list, get, update, extend, delete, snapshots). */
import { z } from 'zod'
import { appParams, volumeParams } from './params.ts'
import { op } from './spec.ts'

/** Fly's default size. */
export const DEFAULT_VOLUME_GB = 3
export const DEFAULT_SNAPSHOT_RETENTION = 5

const V = '/v1/apps/:app/volumes'
const sizeGb = z.number().int('size_gb is a whole number of GB').min(1, 'size_gb is at least 1').max(65536, 'size_gb is at most 65536')

export const createVolumeSchema = z
  .looseObject({
    name: z.string().regex(/^[a-z0-9_]{1,30}$/, 'name: lower-case letters, digits and underscores, at most 30').describe('the volume\'s name in the app; several volumes may share one'),
    size_gb: sizeGb.optional().describe(`size in GB (default ${DEFAULT_VOLUME_GB}, or the source's size with snapshot_id or source_volume_id)`),
    region: z.string().optional().describe('the host\'s region; this host is one region'),
    encrypted: z.boolean().optional().describe('accepted for Fly\'s clients; volumes here are not encrypted at rest (encrypted: false)'),
    snapshot_id: z.string().optional().describe('make the volume from this snapshot ("vs_…") of a volume of the app'),
    source_volume_id: z.string().optional().describe('fork: the volume starts as this volume of the app is now ("vol_…")'),
    snapshot_retention: z.number().int().min(1).max(60).optional().describe(`recorded and echoed (default ${DEFAULT_SNAPSHOT_RETENTION})`),
    auto_backup_enabled: z.boolean().optional().describe('recorded and echoed; no automatic snapshots are taken yet'),
    require_unique_zone: z.boolean().optional(),
  })
  .refine((v) => !(v.snapshot_id && v.source_volume_id), { message: 'give snapshot_id or source_volume_id, not both', path: ['snapshot_id'] })

export const updateVolumeSchema = z.looseObject({
  snapshot_retention: z.number().int().min(1).max(60).optional(),
  auto_backup_enabled: z.boolean().optional(),
})

export const extendVolumeSchema = z.looseObject({ size_gb: sizeGb.describe('the new size in GB, larger than the current one') })

/** Fly's Volume object. */
export const volumeView = z.object({
  id: z.string(),
  name: z.string(),
  state: z.enum(['created', 'destroyed']),
  size_gb: z.number(),
  region: z.string(),
  zone: z.string(),
  encrypted: z.boolean(),
  attached_machine_id: z.string().nullable(),
  attached_alloc_id: z.null(),
  created_at: z.string(),
  host_dedication_key: z.string(),
  host_status: z.literal('ok'),
  fstype: z.literal('btrfs'),
  snapshot_retention: z.number(),
  auto_backup_enabled: z.boolean(),
  block_size: z.number(),
  blocks: z.number(),
  blocks_free: z.number(),
  blocks_avail: z.number(),
  bytes_total: z.number(),
  bytes_used: z.number(),
})
export type VolumeView = z.infer<typeof volumeView>

/** Fly's VolumeSnapshot. */
export const volumeSnapshotView = z.object({
  id: z.string(),
  created_at: z.string(),
  digest: z.string(),
  size: z.number().describe('bytes it holds'),
  status: z.literal('created'),
  retention_days: z.number(),
  volume_size: z.number().describe('the volume\'s size when taken, in bytes'),
})
export type VolumeSnapshotView = z.infer<typeof volumeSnapshotView>

export const volumeList = op({
  id: 'volume.list', method: 'get', path: V, tag: 'volumes', params: appParams, output: z.array(volumeView), access: { action: 'read' }, summary: 'List the app\'s volumes',
})

export const volumeCreate = op({
  id: 'volume.create', method: 'post', path: V, tag: 'volumes', params: appParams, input: createVolumeSchema, output: volumeView, access: { action: 'create' },
  summary: 'Create a volume: empty (size_gb, default 3), from a snapshot (snapshot_id) or forked from another volume of the app (source_volume_id); refused, naming the limit, when the host cannot hold it',
})

export const volumeGet = op({
  id: 'volume.get', method: 'get', path: `${V}/:vid`, tag: 'volumes', params: volumeParams, output: volumeView, access: { action: 'read' }, summary: 'Get a volume',
})

export const volumeUpdate = op({
  id: 'volume.update', method: 'put', path: `${V}/:vid`, tag: 'volumes', params: volumeParams, input: updateVolumeSchema, output: volumeView, access: { action: 'write' },
  summary: 'Update a volume\'s snapshot settings (snapshot_retention, auto_backup_enabled)',
})

export const volumeDestroy = op({
  id: 'volume.destroy', method: 'delete', path: `${V}/:vid`, tag: 'volumes', params: volumeParams, output: volumeView, access: { action: 'delete' },
  summary: 'Delete a volume and its snapshots; refused (409 volume_in_use) while a machine that exists has it attached. Answers the volume with state "destroyed"',
})

export const volumeExtend = op({
  id: 'volume.extend', method: 'put', path: `${V}/:vid/extend`, tag: 'volumes', params: volumeParams, input: extendVolumeSchema,
  output: z.object({ needs_restart: z.boolean(), volume: volumeView }), access: { action: 'write' },
  summary: 'Grow a volume to size_gb, at once, mounted or not: answers {needs_restart: false, volume}; a smaller size is refused',
})

export const volumeSnapshots = op({
  id: 'volume.snapshots', method: 'get', path: `${V}/:vid/snapshots`, tag: 'volumes', params: volumeParams, output: z.array(volumeSnapshotView), access: { action: 'read' },
  summary: 'List the volume\'s snapshots, oldest first: [{id, created_at, digest, size, status}]',
})

export const volumeSnapshot = op({
  id: 'volume.snapshot', method: 'post', path: `${V}/:vid/snapshots`, tag: 'volumes', params: volumeParams, output: volumeSnapshotView, access: { action: 'write' },
  summary: 'Snapshot the volume as it is now (read-only, O(1)); a volume can be made from it with snapshot_id',
})
