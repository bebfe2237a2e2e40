/**
 * The machine's root filesystem: an overlayfs of the image layers (read-only,
 * shared) under the machine's own upper dir, on its disk (disks.ts). Mounted at create and kept
 * mounted while the machine exists, so start only pays a stat to check it is
 * still there (after a host reboot it is not, and start remounts it).
 *
 * Layers get short symlinks in `<machine>/l/`, the record of the stack that a
 * remount after a reboot reads; the helper opens them relative to the machine
 * dir and hands each to overlay on its own (`lowerdir+`), so the stack has no
 * page-sized option limit.
 */
import { chmod, chown, lstat, mkdir, readdir, rm, rmdir, stat, symlink } from 'node:fs/promises'
import { statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { MachinePaths } from './layout.ts'
import { run, tryRun } from '../../lib/proc.ts'
import type { Idmap } from './userns.ts'

/** Points `l/0 … l/N-1` at the layer dirs (bottom first), replacing old links. */
async function linkLayers(paths: MachinePaths, layers: string[]): Promise<void> {
  await rm(paths.lowers, { recursive: true, force: true })
  await mkdir(paths.lowers)
  for (const [i, layer] of layers.entries()) {
    if (!(await stat(layer)).isDirectory()) throw new Error(`layer ${layer} is not a directory`)
    await symlink(layer, join(paths.lowers, String(i)))
  }
}

/** True when something (our overlay) is mounted on rootfs: it then has its own device. */
export function isMounted(paths: MachinePaths): boolean {
  return mountedOn(paths.rootfs, paths.rootDir)
}

function mountedOn(mountPoint: string, parent: string): boolean {
  try {
    return statSync(mountPoint).dev !== statSync(parent).dev
  } catch {
    return false
  }
}

/** The mount point and its parent, which only the machine's range may enter (layout.ts says why). */
async function makeMountPoint(paths: MachinePaths, idmap: Idmap): Promise<void> {
  await mkdir(dirname(paths.rootDir), { recursive: true, mode: 0o711 })
  await chmod(dirname(paths.rootDir), 0o711)
  await mkdir(paths.rootDir, { recursive: true, mode: 0o700 })
  await chown(paths.rootDir, idmap.base, idmap.base)
  await mkdir(paths.rootfs, { recursive: true })
}

/**
 * Mounts the linked stack as the machine sees it: every layer and the upper through an idmapped
 * mount into its user namespace (native/hangar-ns.c), so nothing on disk is chowned or copied.
 */
async function mountLinked(paths: MachinePaths, idmap: Idmap): Promise<void> {
  const count = (await readdir(paths.lowers)).length
  if (count === 0) throw new Error('machine has no layers')
  await makeMountPoint(paths, idmap)
  // Overlay lists the top layer first.
  const lowers = Array.from({ length: count }, (_, i) => `l/${count - 1 - i}`)
  await run(idmap.helper, ['mount', String(idmap.base), idmap.usernsFile, paths.rootfs, paths.dir, paths.disk, ...lowers], { step: 'mount overlay' })
}

/** Links the layers and mounts the stack over the machine's disk (disks.ts makes it). */
export async function mountOverlay(paths: MachinePaths, layers: string[], idmap: Idmap): Promise<void> {
  await linkLayers(paths, layers)
  await mountLinked(paths, idmap)
}

/** Remounts with the links already on disk (after a reboot); no-op if mounted. */
export async function ensureMounted(paths: MachinePaths, idmap: Idmap): Promise<void> {
  if (!isMounted(paths)) await mountLinked(paths, idmap)
}

/** Swaps the lower layers of an unused machine, keeping its upper dir. */
export async function relayer(paths: MachinePaths, layers: string[], idmap: Idmap): Promise<void> {
  await unmountOverlay(paths)
  await linkLayers(paths, layers)
  await mountLinked(paths, idmap)
}

/**
 * Unmounts rootfs if mounted; lazily if something still holds it, so destroy never sticks. Also
 * the mount of a machine from before user namespaces, which sat at `<machine>/rootfs`.
 */
export async function unmountOverlay(paths: MachinePaths): Promise<void> {
  const legacy = join(paths.dir, 'rootfs')
  for (const [mountPoint, parent] of [[paths.rootfs, paths.rootDir], [legacy, paths.dir]] as const) {
    try {
      await lstat(mountPoint)
    } catch {
      continue
    }
    // A loop because mounts can stack (a remount raced a reboot); bounded so it cannot spin.
    for (let i = 0; i < 5 && mountedOn(mountPoint, parent); i++) {
      if (!(await tryRun('umount', [mountPoint], { step: 'umount overlay' }))) {
        await run('umount', ['-l', mountPoint], { step: 'umount overlay' })
      }
    }
  }
  await rmdir(legacy).catch(() => {})
}
