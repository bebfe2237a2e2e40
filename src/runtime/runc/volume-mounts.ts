/**
 * Volumes in a machine. runc 1.1 cannot idmap a bind mount, so each volume is first mounted on
 * the host through an idmapped mount into the machine's user namespace (native/hangar-ns.c
 * `bind`), at `roots/<id>/vols/<n>`, and the bundle bind-mounts that into the machine. Like the
 * rootfs, the mounts stay while the machine exists; start remakes those a reboot took away.
 *
 *   await mountVolumes(paths, spec.mounts, idmap)   // at create and reconfigure
 *   await ensureVolumes(paths, idmap)               // at start: a few stats when all is in place
 *   await unmountVolumes(paths)                     // before anything under roots/<id> is removed
 */
import { existsSync, statSync } from 'node:fs'
import { chown, mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HangarError } from '../../errors.ts'
import { run, tryRun } from '../../lib/proc.ts'
import type { VolumeMount } from '../types.ts'
import type { MachinePaths } from './layout.ts'
import type { Idmap } from './userns.ts'

/** Where volume `n` is mounted on the host, the source of its bind mount in the bundle. */
export function volumeMountPoint(paths: MachinePaths, n: number): string {
  return join(paths.vols, String(n))
}

/** An idmapped mount of a subvolume has the subvolume's own device: mounted iff the devices agree. */
function holds(mountPoint: string, source: string): boolean {
  try {
    return statSync(mountPoint).dev === statSync(source).dev
  } catch {
    return false
  }
}

function mountedOn(mountPoint: string, parent: string): boolean {
  try {
    return statSync(mountPoint).dev !== statSync(parent).dev
  } catch {
    return false
  }
}

/** Records the machine's volumes and mounts them (after unmounting what it had). */
export async function mountVolumes(paths: MachinePaths, mounts: VolumeMount[], idmap: Idmap): Promise<void> {
  await unmountVolumes(paths)
  if (mounts.length === 0) {
    await rm(paths.volumes, { force: true })
    return
  }
  await writeFile(paths.volumes, JSON.stringify(mounts))
  await ensureVolumes(paths, idmap)
}

/** Mounts each recorded volume that is not mounted (after a reboot); a volume missing on disk is an error, never an empty dir. */
export async function ensureVolumes(paths: MachinePaths, idmap: Idmap): Promise<void> {
  if (!existsSync(paths.volumes)) return
  const mounts = JSON.parse(await readFile(paths.volumes, 'utf8')) as VolumeMount[]
  for (const [n, m] of mounts.entries()) {
    const target = volumeMountPoint(paths, n)
    if (holds(target, m.source)) continue
    if (!existsSync(m.source)) {
      throw new HangarError('runtime_error', `volume ${m.source} mounted at ${m.destination} is missing on disk`, {
        hint: 'was the daemon started with another --machines-fs than the one the volume was made on? Start it with that one again',
      })
    }
    // Only the machine's range may enter roots/<id> and what is below (layout.ts).
    await mkdir(paths.vols, { recursive: true, mode: 0o700 })
    await chown(paths.vols, idmap.base, idmap.base)
    await mkdir(target, { recursive: true, mode: 0o700 })
    await run(idmap.helper, ['bind', idmap.usernsFile, m.source, target], { step: `mount volume at ${m.destination}` })
  }
}

/**
 * Takes every volume mount off the machine (lazily if something holds one) and removes the mount
 * points with rmdir, which cannot reach into a volume: a teardown never deletes a volume's files.
 */
export async function unmountVolumes(paths: MachinePaths): Promise<void> {
  const names = await readdir(paths.vols).catch(() => [] as string[])
  for (const name of names) {
    const target = join(paths.vols, name)
    // A loop because mounts can stack (a remount raced a reboot); bounded so it cannot spin.
    for (let i = 0; i < 5 && mountedOn(target, paths.vols); i++) {
      if (!(await tryRun('umount', [target], { step: 'umount volume' }))) await run('umount', ['-l', target], { step: 'umount volume' })
    }
    await rmdir(target)
  }
  await rmdir(paths.vols).catch(() => {})
}
