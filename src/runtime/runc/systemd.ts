/**
 * systemd as a machine's PID 1: a robot that installs systemd and sets
 * `config.init.exec` to `/lib/systemd/systemd` (or `/sbin/init`, when that
 * links to it) gets units that run, journal lines in `machine logs`, and a stop
 * that shuts systemd down. What it needs from us, besides the bundle's tmpfs
 * mounts, cgroup namespace and console (bundle.ts): its own cgroup subtree,
 * delegated after `runc create`, and SIGRTMIN+3 to stop (SIGTERM makes it
 * re-execute itself).
 *
 *   if (await isSystemd(rootfs, spec.process.args[0])) …
 */
import { existsSync } from 'node:fs'
import { chown, readdir, readlink } from 'node:fs/promises'
import { basename, join } from 'node:path'

/** SIGRTMIN+3 on Linux, which systemd takes as "halt"; runc takes it by number. */
export const SYSTEMD_STOP_SIGNAL = '37'

/** Forwards the journal to the console (the terminal conmon logs), so `machine logs` shows units' output. */
export const JOURNALD_DROP_IN = '[Journal]\nForwardToConsole=yes\nMaxLevelConsole=info\n'

const initPaths = new Set(['/sbin/init', '/usr/sbin/init'])

/**
 * True when argv0 is systemd, directly or through Debian's /sbin/init link. Reads the link's text
 * only (never follows it): the rootfs belongs to the machine.
 */
export async function isSystemd(rootfs: string, argv0: string | undefined): Promise<boolean> {
  if (!argv0) return false
  if (basename(argv0) === 'systemd') return true
  if (!initPaths.has(argv0)) return false
  const target = await readlink(join(rootfs, argv0)).catch(() => '')
  return basename(target) === 'systemd'
}

/**
 * Hands the machine's root (host uid `base`) its cgroup subtree, as systemd delegation does.
 * cgroup v1: the named `systemd` hierarchy and the (controller-less) unified one, whole.
 * cgroup v2: the directory and its cgroup.procs, threads and subtree_control only, so the
 * limits written in its memory.max, cpu.max, … stay the host's.
 */
export async function delegateCgroups(cgroupsPath: string, base: number): Promise<void> {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    const dir = join('/sys/fs/cgroup', cgroupsPath)
    for (const f of ['', 'cgroup.procs', 'cgroup.threads', 'cgroup.subtree_control']) await chown(join(dir, f), base, base)
    return
  }
  for (const hierarchy of ['systemd', 'unified']) {
    const dir = join('/sys/fs/cgroup', hierarchy, cgroupsPath)
    if (!existsSync(dir)) continue
    await chown(dir, base, base)
    for (const f of await readdir(dir)) await chown(join(dir, f), base, base)
  }
}
