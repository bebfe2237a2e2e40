/**
 * The machines filesystem: where every machine's writable layer (and, later,
 * its checkpoint layers) lives, apart from the data dir, so a machine filling
 * its disk never fills the host's. A btrfs with qgroups: one subvolume and
 * limit per machine (disks.ts). Three ways to get one, and a way to go without:
 *
 *   image   <stateDir>/machines.btrfs, a preallocated file, loop-mounted at <stateDir>/disks
 *   device  a block device holding btrfs (the production choice), mounted there
 *   path    a directory on a btrfs the operator mounted (fstab), used in place
 *   none    no filesystem of their own: upper and work stay in the machine dir, on the data
 *           dir; no quotas, and sizes are refused
 *
 * Opening is idempotent: after a daemon crash the mount is still there; after a
 * reboot it is made again. The mount outlives the daemon (machines keep running).
 *
 *   const fs = await openMachinesFs('/var/lib/hangar/runtime', { kind: 'image', sizeBytes: 40 * 2 ** 30 })
 *   fs.dir   // '/var/lib/hangar/runtime/disks'
 */
import { existsSync, statfsSync, statSync } from 'node:fs'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { HangarError } from '../errors.ts'
import { enableQuota, isBtrfs } from './btrfs.ts'
import { run, tryRun } from '../lib/proc.ts'

export type MachinesFsOptions =
  /** sizeBytes: only when the image is made; default half the data dir's free space, 2–100 GB. */
  | { kind: 'image'; sizeBytes?: number }
  | { kind: 'device'; device: string }
  | { kind: 'path'; path: string }
  | { kind: 'none' }

export interface MachinesFs {
  kind: MachinesFsOptions['kind']
  /** Machines' disks are `<dir>/machines/<id>` (with quotas; without, they sit in the machine dirs). */
  dir: string
  /** Whether each machine's disk gets a limit the kernel enforces. */
  quota: boolean
  /** What the filesystem holds in all, in bytes. */
  capacity(): number
}

export const GiB = 2 ** 30
export const gb = (bytes: number): string => `${Number((bytes / GiB).toFixed(2))} GB`

/** Half the free space of the filesystem holding `dir`, whole GB, at least 2 and at most 100. */
export function defaultImageBytes(dir: string): number {
  const s = statfsSync(dir)
  const half = Math.floor((Number(s.bavail) * Number(s.bsize)) / 2 / GiB) * GiB
  return Math.min(100 * GiB, Math.max(2 * GiB, half))
}

function isMountPoint(dir: string): boolean {
  try {
    return statSync(dir).dev !== statSync(dirname(dir)).dev
  } catch {
    return false
  }
}

/**
 * Made under a temporary name and renamed, so a crash never leaves a half-made image. Preallocated:
 * its space is the machines' from the start, so the host filling up later cannot break their disks.
 */
async function makeImage(image: string, bytes: number): Promise<void> {
  const tmp = `${image}.tmp`
  await rm(tmp, { force: true })
  try {
    await writeFile(tmp, '')
    await run('fallocate', ['-l', String(bytes), tmp], { step: 'preallocate the machines filesystem' })
    // -K: no discard at mkfs, which would punch the preallocation out of the file again.
    await run('mkfs.btrfs', ['-q', '-K', '-f', tmp], { step: 'mkfs.btrfs' })
    await rename(tmp, image)
  } catch (e) {
    await rm(tmp, { force: true })
    throw new HangarError('unavailable', `cannot make a ${gb(bytes)} machines filesystem at ${image}: ${(e as Error).message}`, {
      hint: 'give a size the data dir can hold with --machines-fs-size, or name a btrfs device with --machines-fs /dev/…',
      cause: e,
    })
  }
}

/**
 * Discards from the filesystem (its own, or a periodic fstrim) would punch holes in the image and
 * hand its preallocated space back to the host; the loop device is told it cannot discard.
 */
async function keepPreallocated(image: string): Promise<void> {
  const { stdout } = await run('losetup', ['-j', image], { step: 'losetup -j' })
  for (const line of stdout.split('\n').filter(Boolean)) {
    const dev = basename(line.slice(0, line.indexOf(':')))
    await writeFile(`/sys/block/${dev}/queue/discard_max_bytes`, '0').catch(() => {})
  }
}

async function mountDevice(source: string, dir: string, options: string): Promise<void> {
  await run('mount', ['-t', 'btrfs', '-o', options, source, dir], { step: `mount the machines filesystem (${source})` })
}

export async function openMachinesFs(stateDir: string, opts: MachinesFsOptions): Promise<MachinesFs> {
  const dir = opts.kind === 'path' ? opts.path : join(stateDir, 'disks')
  if (opts.kind !== 'none') await mkdir(dir, { recursive: true, mode: 0o700 })
  if (opts.kind === 'image' && !isMountPoint(dir)) {
    const image = join(stateDir, 'machines.btrfs')
    if (!existsSync(image)) await makeImage(image, opts.sizeBytes ?? defaultImageBytes(stateDir))
    // `loop` detaches the loop device by itself at the last unmount.
    await mountDevice(image, dir, 'loop,nodiscard')
    await keepPreallocated(image)
  }
  if (opts.kind === 'device' && !isMountPoint(dir)) {
    const { stdout } = await run('blkid', ['-o', 'value', '-s', 'TYPE', opts.device], { step: `blkid ${opts.device}`, okCodes: [2] })
    if (stdout.trim() !== 'btrfs') {
      throw new HangarError('unavailable', `${opts.device} holds no btrfs filesystem (found: ${stdout.trim() || 'nothing'})`, {
        hint: `make one with mkfs.btrfs ${opts.device} (this erases the device), or name another with --machines-fs`,
      })
    }
    await mountDevice(opts.device, dir, 'defaults')
  }
  const quota = opts.kind !== 'none'
  if (quota) {
    if (!isBtrfs(dir)) throw new HangarError('unavailable', `the machines filesystem at ${dir} is not btrfs`, { hint: 'name a btrfs path or device with --machines-fs, or `none` to run without disk quotas' })
    await enableQuota(dir)
    await mkdir(join(dir, 'machines'), { recursive: true, mode: 0o700 })
  }
  return {
    kind: opts.kind,
    dir,
    quota,
    capacity() {
      const s = statfsSync(dir)
      return Number(s.blocks) * Number(s.bsize)
    },
  }
}

/**
 * Unmounts the machines filesystem Hangar mounted for stateDir (image or device), which frees an
 * image's loop device. For tests and operators taking a host apart; machines must be destroyed first.
 */
export async function unmountMachinesFs(stateDir: string): Promise<void> {
  const dir = join(stateDir, 'disks')
  for (let i = 0; i < 3 && isMountPoint(dir); i++) {
    if (!(await tryRun('umount', [dir], { step: 'umount the machines filesystem' }))) await run('umount', ['-l', dir], { step: 'umount the machines filesystem' })
  }
}
