/**
 * The machine's root filesystem: an overlayfs of the image layers (read-only,
 * shared) under the machine's own upper dir. Mounted at create and kept
 * mounted while the machine exists, so start only pays a stat to check it is
 * still there (after a host reboot it is not, and start remounts it).
 *
 * Layers get one-character-ish symlinks in `<machine>/l/` and the mount runs
 * with cwd = the machine dir, so the lowerdir option holds `l/3:l/2:…`
 * instead of long absolute paths: a page-sized option fits ~1000 layers.
 */
import { lstat, mkdir, readdir, rm, stat, symlink } from 'node:fs/promises'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import type { MachinePaths } from './layout.ts'
import { run, tryRun } from './proc.ts'

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
  try {
    return statSync(paths.rootfs).dev !== statSync(paths.dir).dev
  } catch {
    return false
  }
}

async function mountLinked(paths: MachinePaths): Promise<void> {
  const count = (await readdir(paths.lowers)).length
  if (count === 0) throw new Error('machine has no layers')
  // Overlay lists the top layer first.
  const lower = Array.from({ length: count }, (_, i) => `l/${count - 1 - i}`).join(':')
  await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=upper,workdir=work,index=off`, paths.rootfs], {
    step: 'mount overlay',
    cwd: paths.dir,
  })
}

/** Creates upper/work/rootfs and mounts the stack. */
export async function mountOverlay(paths: MachinePaths, layers: string[]): Promise<void> {
  for (const d of [paths.upper, paths.work, paths.rootfs]) await mkdir(d, { recursive: true })
  await linkLayers(paths, layers)
  await mountLinked(paths)
}

/** Remounts with the links already on disk (after a reboot); no-op if mounted. */
export async function ensureMounted(paths: MachinePaths): Promise<void> {
  if (!isMounted(paths)) await mountLinked(paths)
}

/** Swaps the lower layers of an unused machine, keeping its upper dir. */
export async function relayer(paths: MachinePaths, layers: string[]): Promise<void> {
  await unmountOverlay(paths)
  await linkLayers(paths, layers)
  await mountLinked(paths)
}

/** Unmounts rootfs if mounted; lazily if something still holds it, so destroy never sticks. */
export async function unmountOverlay(paths: MachinePaths): Promise<void> {
  try {
    await lstat(paths.rootfs)
  } catch {
    return
  }
  // A loop because mounts can stack (a remount raced a reboot); bounded so it cannot spin.
  for (let i = 0; i < 5 && isMounted(paths); i++) {
    if (!(await tryRun('umount', [paths.rootfs], { step: 'umount overlay' }))) {
      await run('umount', ['-l', paths.rootfs], { step: 'umount overlay' })
    }
  }
}
