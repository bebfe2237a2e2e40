/**
 * Checkpoints for runc machines: the rootfs room freezes and swaps disks; this
 * file makes that safe against the machine. A running machine is paused
 * (cgroup freezer) for the instant of capture, so no write lands half before
 * and half after; a marker beside it says so, and a driver that finds the
 * marker at open (the daemon died mid-capture) thaws the machine rather than
 * leave it frozen for good.
 */
import { existsSync } from 'node:fs'
import { readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HangarError } from '../../errors.ts'
import type { Checkpoints } from '../../rootfs/index.ts'
import type { DriverCheckpoints, DriverVolumes, VolumeSnapshotRequest } from '../types.ts'
import type { Layout } from './layout.ts'
import type { Provisioner } from './provision.ts'
import type { Runc } from './runc.ts'

type Captured = Awaited<ReturnType<DriverCheckpoints['capture']>>

const MARKER = 'capturing'

export class RuncCheckpoints implements DriverCheckpoints {
  #layout: Layout
  #runc: Runc
  #store: Checkpoints
  #provisioner: Provisioner
  #volumes: DriverVolumes

  constructor(deps: { layout: Layout; runc: Runc; checkpoints: Checkpoints; provisioner: Provisioner; volumes: DriverVolumes }) {
    this.#volumes = deps.volumes
    this.#layout = deps.layout
    this.#runc = deps.runc
    this.#store = deps.checkpoints
    this.#provisioner = deps.provisioner
  }

  #known(id: string): void {
    if (!existsSync(this.#layout.machine(id).config)) throw new HangarError('machine_not_found', `machine ${id} not found`)
  }

  async capture(id: string, key: string, volumes: VolumeSnapshotRequest[] = []): Promise<Captured> {
    this.#known(id)
    // One that is already paused (suspended) stays paused; one that is not running has no writer.
    if ((await this.#runc.state(id))?.status !== 'running') return this.#freeze(id, key, volumes)
    const marker = join(this.#layout.machine(id).dir, MARKER)
    await writeFile(marker, key)
    await this.#runc.pause(id)
    try {
      return await this.#freeze(id, key, volumes)
    } finally {
      await this.#runc.resume(id)
      await rm(marker, { force: true })
    }
  }

  /** The disk and the volumes, frozen together; a failure part-way leaves none of them. */
  async #freeze(id: string, key: string, volumes: VolumeSnapshotRequest[]): Promise<Captured> {
    const { sizeBytes } = await this.#store.capture(id, key)
    const taken: Captured['volumes'] = []
    try {
      for (const v of volumes) taken.push({ snapshot: v.snapshot, ...(await this.#volumes.snapshot(v.volume, v.snapshot)) })
    } catch (e) {
      for (const t of taken) await this.#volumes.removeSnapshot(t.snapshot).catch(() => {})
      await this.#store.remove(key).catch(() => {})
      throw e
    }
    return { sizeBytes, volumes: taken }
  }

  async restore(id: string, key: string, volumes: VolumeSnapshotRequest[] = []): Promise<void> {
    this.#known(id)
    const status = (await this.#runc.state(id))?.status
    if (status === 'running' || status === 'paused') {
      throw new HangarError('invalid_state', `machine ${id} is ${status}: its disk can only be restored while it is stopped`)
    }
    // Every part present before anything is swapped: a restore never stops half-way for a missing snapshot.
    const missing = volumes.find((v) => !this.#volumes.hasSnapshot(v.snapshot))
    if (missing) throw new HangarError('runtime_error', `volume snapshot ${missing.snapshot} of ${missing.volume} is missing on disk; nothing was restored`)
    await this.#provisioner.replaceDisk(id, async () => {
      await this.#store.restore(id, key)
      for (const v of volumes) await this.#volumes.replace(v.volume, v.snapshot)
    })
  }

  remove(key: string): Promise<void> {
    return this.#store.remove(key)
  }

  keys(): Promise<string[]> {
    return this.#store.keys()
  }

  /** Thaws machines a capture left paused when the daemon died in it. */
  async recover(): Promise<void> {
    for (const id of await readdir(this.#layout.machinesDir).catch(() => [] as string[])) {
      const marker = join(this.#layout.machine(id).dir, MARKER)
      if (!existsSync(marker)) continue
      if ((await this.#runc.state(id))?.status === 'paused') await this.#runc.resume(id)
      await rm(marker, { force: true })
    }
  }
}
