/** Volumes: Fly's Volumes resource, typed. */
import type { VolumeSnapshotView, VolumeView } from '../platform/index.ts'
import type { Http } from './http.ts'

export interface CreateVolumeRequest {
  name: string
  /** Default 3, or the source's size with snapshot_id or source_volume_id. */
  size_gb?: number
  region?: string
  /** Make the volume from this snapshot ("vs_…"). */
  snapshot_id?: string
  /** Fork: the new volume starts as this volume of the app is now. */
  source_volume_id?: string
  snapshot_retention?: number
  auto_backup_enabled?: boolean
}

export class Volumes {
  readonly #http: Http

  constructor(http: Http) {
    this.#http = http
  }

  #p(app: string, id?: string, verb?: string): string {
    return `/v1/apps/${encodeURIComponent(app)}/volumes${id ? `/${encodeURIComponent(id)}` : ''}${verb ? `/${verb}` : ''}`
  }

  list(app: string): Promise<VolumeView[]> {
    return this.#http.json('GET', this.#p(app))
  }

  /**
   * Empty, from a snapshot, or a fork of another volume.
   *   const v = await hangar.volumes.create('myapp', { name: 'data', size_gb: 1 })
   *   await hangar.machines.create('myapp', { config: { image: 'debian', mounts: [{ volume: v.id, path: '/data' }] } })
   */
  create(app: string, req: CreateVolumeRequest): Promise<VolumeView> {
    return this.#http.json('POST', this.#p(app), { body: req })
  }

  get(app: string, id: string): Promise<VolumeView> {
    return this.#http.json('GET', this.#p(app, id))
  }

  update(app: string, id: string, req: { snapshot_retention?: number; auto_backup_enabled?: boolean }): Promise<VolumeView> {
    return this.#http.json('PUT', this.#p(app, id), { body: req })
  }

  /** Grows the volume at once (mounted or not); a smaller size is refused. */
  extend(app: string, id: string, sizeGb: number): Promise<{ needs_restart: boolean; volume: VolumeView }> {
    return this.#http.json('PUT', this.#p(app, id, 'extend'), { body: { size_gb: sizeGb } })
  }

  /** Refused (volume_in_use) while a machine that exists has it attached; answers it with state "destroyed". */
  destroy(app: string, id: string): Promise<VolumeView> {
    return this.#http.json('DELETE', this.#p(app, id))
  }

  snapshots(app: string, id: string): Promise<VolumeSnapshotView[]> {
    return this.#http.json('GET', this.#p(app, id, 'snapshots'))
  }

  snapshot(app: string, id: string): Promise<VolumeSnapshotView> {
    return this.#http.json('POST', this.#p(app, id, 'snapshots'))
  }

  /** A new volume that starts as `source` is now, then goes its own way. */
  fork(app: string, source: string, req: Omit<CreateVolumeRequest, 'source_volume_id' | 'snapshot_id'>): Promise<VolumeView> {
    return this.create(app, { ...req, source_volume_id: source })
  }
}
