/**
 * The root filesystem room: where machines' disks (the writable layer over the
 * image layers) and their checkpoints live, apart from any one runtime. A
 * driver asks it for a disk, mounts the image layers over it its own way, and
 * hands it back to freeze, restore or seed a fork; the platform records which
 * checkpoints exist.
 *
 *   const fs = await openMachinesFs(stateDir, { kind: 'image' })
 *   const disks = await Disks.load({ layout, fs, defaultBytes, overcommit: 1 })
 *   const checkpoints = new Checkpoints(join(fs.dir, 'checkpoints'), disks)
 */
export { Checkpoints } from './checkpoints.ts'
export { Volumes, type VolumeSeed } from './volumes.ts'
export { Disks, type DiskPaths, type DisksOptions } from './disks.ts'
export { openMachinesFs, unmountMachinesFs, GiB, gb, type MachinesFs, type MachinesFsOptions } from './machines-fs.ts'
export { isBtrfs, qgroups, subvolumeUsage } from './btrfs.ts'
