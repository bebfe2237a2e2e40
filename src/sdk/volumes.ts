/** Volumes: Fly's Volumes resource, typed. */
import { volumeCreate, volumeDestroy, volumeExtend, volumeGet, volumeList, volumeSnapshot, volumeSnapshots, volumeUpdate, type OpInput } from '../ops/index.ts'
import type { Http } from './http.ts'

/** Empty (size_gb, default 3), from a snapshot (snapshot_id) or a fork of another volume (source_volume_id). */
export type CreateVolumeRequest = OpInput<typeof volumeCreate>

export class Volumes {
  readonly #http: Http

  constructor(http: Http) {
    this.#http = http
  }

  list(app: string) {
    return this.#http.call(volumeList, { app })
  }

  /**
   * Empty, from a snapshot, or a fork of another volume.
   *   const v = await hangar.volumes.create('myapp', { name: 'data', size_gb: 1 })
   *   await hangar.machines.create('myapp', { config: { image: 'debian', mounts: [{ volume: v.id, path: '/data' }] } })
   */
  create(app: string, req: CreateVolumeRequest) {
    return this.#http.call(volumeCreate, { app }, req)
  }

  get(app: string, id: string) {
    return this.#http.call(volumeGet, { app, vid: id })
  }

  update(app: string, id: string, req: OpInput<typeof volumeUpdate>) {
    return this.#http.call(volumeUpdate, { app, vid: id }, req)
  }

  /** Grows the volume at once (mounted or not); a smaller size is refused. */
  extend(app: string, id: string, sizeGb: number) {
    return this.#http.call(volumeExtend, { app, vid: id }, { size_gb: sizeGb })
  }

  /** Refused (volume_in_use) while a machine that exists has it attached; answers it with state "destroyed". */
  destroy(app: string, id: string) {
    return this.#http.call(volumeDestroy, { app, vid: id })
  }

  snapshots(app: string, id: string) {
    return this.#http.call(volumeSnapshots, { app, vid: id })
  }

  snapshot(app: string, id: string) {
    return this.#http.call(volumeSnapshot, { app, vid: id })
  }

  /** A new volume that starts as `source` is now, then goes its own way. */
  fork(app: string, source: string, req: Pick<CreateVolumeRequest, 'name' | 'size_gb' | 'region' | 'snapshot_retention' | 'auto_backup_enabled'>) {
    return this.create(app, { ...req, source_volume_id: source })
  }
}
