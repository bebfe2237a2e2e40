/**
 * Where everything lives. Every path hangs off the driver's stateDir, so two
 * drivers (two daemons, two test files) over different stateDirs never share a
 * file, a runc root or an IPAM database. Only conmon's attach-socket directory
 * sits under /run/hangar, because unix socket paths must stay under 108 bytes.
 *
 *   <stateDir>/machines/<id>/   the OCI bundle and everything else of one machine
 *   <disksDir>/machines/<id>/    its disk: overlay upper + work, on the machines filesystem
 *                                (machines-fs.ts); without one, upper + work sit in the machine dir
 *   <stateDir>/exits/<id>       conmon's exit file (exit code as text)
 *   <stateDir>/runc/            runc --root
 *   <stateDir>/cni/             host-local IPAM data
 */
import { createHash } from 'node:crypto'
import { join } from 'node:path'

export interface MachinePaths {
  dir: string
  config: string
  /** The MachineSpec the bundle was built from, for reconfigure and reconcile. */
  spec: string
  /** CNI config and result, needed again for DEL. */
  network: string
  /**
   * Where the machine's root filesystem is mounted: outside the data dir (which stays 0700, for
   * the layer cache's setuid files), under /run/hangar/<tag>/roots/<id>/fs. The container's root,
   * an unprivileged host uid, must be able to walk there while runc sets up, so the parents are
   * 0711 and `<id>` belongs to the machine's range, 0700: no other host user gets in.
   */
  rootfs: string
  /** `roots/<id>`, the rootfs mount point's parent, owned by the machine's range. */
  rootDir: string
  /** `roots/<id>/vols`: volume n is mounted (idmapped) on `vols/<n>`, which the bundle bind-mounts. */
  vols: string
  /**
   * `roots/<id>/secrets`: a tmpfs while the machine runs with secrets (start-secrets.ts), holding the
   * bundle conmon and runc are given (config.json with the secrets in its env) and its config.files.
   */
  secrets: string
  /** The volumes mounted into the machine (MachineSpec.mounts), read at start to remount them after a reboot. */
  volumes: string
  /** Holds upper and work: a btrfs subvolume with its limit on the machines filesystem, else the machine dir itself. */
  disk: string
  upper: string
  work: string
  /** The disk's limit in bytes, as text (disks.ts). */
  diskLimit: string
  /** Short symlinks to the layer dirs, so the overlay option stays small. */
  lowers: string
  resolvConf: string
  hosts: string
  log: string
  pidFile: string
  conmonPidFile: string
  /** conmon's --persist-dir: it writes `exit` and (cgroup v1) `oom` here. */
  persist: string
  exitFile: string
  /** The WALLS_VERSION the bundle was written under. */
  walls: string
  /** The base of the machine's id range (id-ranges.ts); absent on machines from before user namespaces. */
  idmap: string
  /** The machine's user namespace, an nsfs bind mount (userns.ts). */
  userns: string
  /** "systemd" when PID 1 is systemd (systemd.ts), else absent. */
  initKind: string
  /** journald's drop-in for a systemd machine, bind-mounted read-only. */
  journald: string
  /** `api/<id>` under the socket dir: mounted read-only at /.fly, where the daemon serves the machine's API socket. */
  api: string
}

export class Layout {
  readonly stateDir: string
  readonly machinesDir: string
  /** The machines filesystem (machines-fs.ts): disks are `<disksDir>/machines/<id>`; null without one. */
  readonly disksDir: string | null
  readonly exitsDir: string
  readonly runcRoot: string
  readonly cniDataDir: string
  readonly socketDir: string
  /** Mount points of the machines' root filesystems (see MachinePaths.rootfs). */
  readonly rootsDir: string
  /** Holds each machine's API directory (MachinePaths.api); 0700, so only root on the host reaches the sockets. */
  readonly apiDir: string

  constructor(stateDir: string, disksDir: string | null = null) {
    this.stateDir = stateDir
    this.machinesDir = join(stateDir, 'machines')
    this.disksDir = disksDir
    this.exitsDir = join(stateDir, 'exits')
    this.runcRoot = join(stateDir, 'runc')
    this.cniDataDir = join(stateDir, 'cni')
    // A hash of the stateDir keeps sockets of different instances apart and short.
    const tag = createHash('sha256').update(stateDir).digest('hex').slice(0, 12)
    this.socketDir = join('/run/hangar', tag)
    this.rootsDir = join(this.socketDir, 'roots')
    this.apiDir = join(this.socketDir, 'api')
  }

  machine(id: string): MachinePaths {
    const dir = join(this.machinesDir, id)
    const disk = this.disksDir === null ? dir : join(this.disksDir, 'machines', id)
    return {
      dir,
      config: join(dir, 'config.json'),
      spec: join(dir, 'spec.json'),
      network: join(dir, 'network.json'),
      rootfs: join(this.rootsDir, id, 'fs'),
      rootDir: join(this.rootsDir, id),
      vols: join(this.rootsDir, id, 'vols'),
      secrets: join(this.rootsDir, id, 'secrets'),
      volumes: join(dir, 'volumes.json'),
      disk,
      upper: join(disk, 'upper'),
      work: join(disk, 'work'),
      diskLimit: join(dir, 'disk-limit'),
      lowers: join(dir, 'l'),
      // On the machine's disk, inside its limit: root inside may write them, as on a VM.
      resolvConf: join(disk, 'resolv.conf'),
      hosts: join(disk, 'hosts'),
      log: join(dir, 'ctr.log'),
      pidFile: join(dir, 'pid'),
      conmonPidFile: join(dir, 'conmon.pid'),
      persist: join(dir, 'persist'),
      exitFile: join(this.exitsDir, id),
      walls: join(dir, 'walls'),
      idmap: join(dir, 'idmap'),
      userns: join(this.socketDir, 'userns', id),
      initKind: join(dir, 'init-kind'),
      journald: join(dir, 'journald.conf'),
      api: join(this.apiDir, id),
    }
  }
}

/**
 * Machine ids are 14 hex chars today; accept any short safe name so a path or
 * a netns name can never be steered outside our directories.
 */
export function isMachineId(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/.test(name)
}
