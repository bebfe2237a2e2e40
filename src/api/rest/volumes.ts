/** /v1/apps/{app}/volumes: Fly's Volumes resource (create, list, get, update, extend, delete, snapshots). */
import type { Context } from 'hono'
import type { Platform } from '../../platform/index.ts'
import { createVolumeSchema, extendVolumeSchema, updateVolumeSchema } from '../../platform/index.ts'
import { readJson, type RouteDef } from './route.ts'

const V = '/v1/apps/:app/volumes'
const app = (c: Context): string => c.req.param('app') as string
const ids = (c: Context): [string, string] => [app(c), c.req.param('vid') as string]

export function volumeRoutes(platform: Platform): RouteDef[] {
  const vols = platform.volumes
  return [
    {
      method: 'get', path: V, access: { action: 'read' }, tag: 'volumes', summary: 'List the app\'s volumes',
      handler: async (c) => c.json(await vols.list(app(c))),
    },
    {
      method: 'post', path: V, access: { action: 'create' }, tag: 'volumes', body: createVolumeSchema, status: 200,
      summary: 'Create a volume: empty (size_gb, default 3), from a snapshot (snapshot_id) or forked from another volume of the app (source_volume_id); refused, naming the limit, when the host cannot hold it',
      handler: async (c) => c.json(await vols.create(app(c), await readJson(c))),
    },
    {
      method: 'get', path: `${V}/:vid`, access: { action: 'read' }, tag: 'volumes', summary: 'Get a volume',
      handler: async (c) => c.json(await vols.get(...ids(c))),
    },
    {
      method: 'put', path: `${V}/:vid`, access: { action: 'write' }, tag: 'volumes', body: updateVolumeSchema, summary: 'Update a volume\'s snapshot settings (snapshot_retention, auto_backup_enabled)',
      handler: async (c) => c.json(await vols.update(...ids(c), await readJson(c))),
    },
    {
      method: 'delete', path: `${V}/:vid`, access: { action: 'delete' }, tag: 'volumes', summary: 'Delete a volume and its snapshots; refused (409 volume_in_use) while a machine that exists has it attached. Answers the volume with state "destroyed"',
      handler: async (c) => c.json(await vols.destroy(...ids(c))),
    },
    {
      method: 'put', path: `${V}/:vid/extend`, access: { action: 'write' }, tag: 'volumes', body: extendVolumeSchema,
      summary: 'Grow a volume to size_gb, at once, mounted or not: answers {needs_restart: false, volume}; a smaller size is refused',
      handler: async (c) => c.json(await vols.extend(...ids(c), await readJson(c))),
    },
    {
      method: 'get', path: `${V}/:vid/snapshots`, access: { action: 'read' }, tag: 'volumes', summary: 'List the volume\'s snapshots, oldest first: [{id, created_at, digest, size, status}]',
      handler: (c) => c.json(vols.snapshots(...ids(c))),
    },
    {
      method: 'post', path: `${V}/:vid/snapshots`, access: { action: 'write' }, tag: 'volumes', status: 200, summary: 'Snapshot the volume as it is now (read-only, O(1)); a volume can be made from it with snapshot_id',
      handler: async (c) => c.json(await vols.snapshot(...ids(c))),
    },
  ]
}
