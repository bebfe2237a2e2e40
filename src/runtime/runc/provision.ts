/**
 * Everything a machine needs on disk before it can start, and taking it all
 * away again: machine dir, overlay rootfs, network namespace + CNI address,
 * /etc files and config.json. create is all-or-nothing (a failure tears down
 * whatever was made); teardown is idempotent and leaves no mount, netns,
 * veth, iptables rule or runc state behind.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { HangarError, toHangarError } from '../../errors.ts'
import type { MachineSpec, NetworkInfo } from '../types.ts'
import { buildConfig } from './bundle.ts'
import type { Attachment, Cni } from './cni.ts'
import { writeEtc } from './etc.ts'
import type { Layout } from './layout.ts'
import { isMachineId } from './layout.ts'
import type { Checkpoints, Disks } from '../../rootfs/index.ts'
import { IdRanges, RANGE_SIZE, readBase } from './id-ranges.ts'
import { ensureMounted, isMounted, mountOverlay, relayer, unmountOverlay } from './overlay.ts'
import type { Runc } from './runc.ts'
import type { OciSeccomp } from './seccomp.ts'
import { JOURNALD_DROP_IN, isSystemd } from './systemd.ts'
import { resolveUser } from './users.ts'
import type { Namespaces } from './userns.ts'
import type { MachineFirewall } from './machine-firewall.ts'
import { ensureVolumes, mountVolumes, unmountVolumes, volumeMountPoint } from './volume-mounts.ts'
import { clearSecrets } from './start-secrets.ts'

interface StoredNetwork extends Attachment {
  netns: string
}

/**
 * The confinement a bundle was written with. Bump it whenever bundle.ts, the seccomp policy or the
 * netns settings change: a machine made under an older one gets its bundle rewritten (and its
 * netns re-hardened) at its next start, so no machine keeps running behind yesterday's walls.
 */
export const WALLS_VERSION = '7'

export interface ProvisionDeps {
  layout: Layout
  runc: Runc
  cni: Cni
  seccomp: OciSeccomp
  netnsPrefix: string
  cgroupParent: string
  swapAccounting: boolean
  ioWeight: boolean
  init: string | null
  logger?: { warn: (obj: object, msg: string) => void }
  /** Read at each create: whether to ask CNI for an IPv6 address; set false once the kernel refuses. */
  ipv6: { value: boolean }
  ranges: IdRanges
  namespaces: Namespaces
  firewall: MachineFirewall
  disks: Disks
  checkpoints: Checkpoints
}

export class Provisioner {
  #d: ProvisionDeps

  constructor(deps: ProvisionDeps) {
    this.#d = deps
  }

  async create(spec: MachineSpec): Promise<NetworkInfo> {
    if (!isMachineId(spec.id)) throw new HangarError('invalid_argument', `invalid machine id "${spec.id}"`)
    const paths = this.#d.layout.machine(spec.id)
    // Before anything is made: a size the host cannot give fails here, naming the limit.
    const diskBytes = this.#d.disks.admit(spec.id, spec.diskBytes)
    try {
      await mkdir(paths.dir)
    } catch (e) {
      throw new HangarError('runtime_error', `machine ${spec.id} already exists on this host`, { cause: e })
    }
    try {
      await this.#d.disks.create(spec.id, diskBytes, spec.diskSeed === undefined ? undefined : this.#d.checkpoints.path(spec.diskSeed))
      await mkdir(paths.persist)
      const base = this.#d.ranges.allocate(spec.id)
      await writeFile(paths.idmap, String(base))
      // The namespaces first: the overlay is mounted through the user namespace's eyes.
      const net = await this.#attach(spec.id, base)
      await mountOverlay(paths, spec.layers, this.#d.namespaces.idmap(spec.id, base))
      await mountVolumes(paths, spec.mounts ?? [], this.#d.namespaces.idmap(spec.id, base))
      await this.#writeBundle(spec, net, base)
      // Before it can ever run: its port held to its own addresses and its app.
      await this.#d.firewall.refresh()
      return { ipv4: net.ipv4, ipv6: net.ipv6, hostVeth: net.hostVeth }
    } catch (e) {
      await this.teardown(spec.id)
      throw toHangarError(e, 'runtime_error')
    }
  }

  /** Makes the user namespace and the netns it owns, hardens and attaches the netns, writes /etc files the machine's root owns. */
  async #attach(id: string, base: number, want: string[] = []): Promise<StoredNetwork> {
    const paths = this.#d.layout.machine(id)
    const netns = this.#d.netnsPrefix + id
    await this.#d.namespaces.create(id, base, this.#d.cni.netnsPath(netns))
    await this.#d.cni.harden(netns, { first: base, last: base + RANGE_SIZE - 1 })
    const att = await this.#d.cni.add(id, netns, this.#d.ipv6.value, want)
    if (this.#d.ipv6.value && !att.ipv6) this.#d.ipv6.value = false
    const net: StoredNetwork = { ...att, netns }
    await writeFile(paths.network, JSON.stringify(net))
    await this.#writeEtc(id, net, base)
    return net
  }

  /** /etc/hosts and resolv.conf, on the machine's disk (so within its limit), owned by its root, who may edit them as on a VM. */
  async #writeEtc(id: string, net: StoredNetwork, base: number): Promise<void> {
    const paths = this.#d.layout.machine(id)
    await writeEtc(paths, id, net.ipv4, net.ipv6)
    for (const f of [paths.resolvConf, paths.hosts]) await chown(f, base, base)
  }

  async #writeBundle(spec: MachineSpec, net: StoredNetwork, base: number): Promise<void> {
    const paths = this.#d.layout.machine(spec.id)
    // Machines made before these files moved onto their disk get them written there now.
    if (!existsSync(paths.hosts) || !existsSync(paths.resolvConf)) await this.#writeEtc(spec.id, net, base)
    const systemd = await isSystemd(paths.rootfs, spec.process.args[0])
    if (systemd) await writeFile(paths.journald, JOURNALD_DROP_IN)
    const config = buildConfig({
      systemd: systemd ? { journaldDropIn: paths.journald } : null,
      spec,
      rootfs: paths.rootfs,
      user: await resolveUser(paths.rootfs, spec.process.user),
      netnsPath: this.#d.cni.netnsPath(net.netns),
      userns: { path: paths.userns, base, size: RANGE_SIZE },
      cgroupsPath: this.cgroupsPath(spec.id),
      seccomp: this.#d.seccomp,
      resolvConf: paths.resolvConf,
      hosts: paths.hosts,
      swapAccounting: this.#d.swapAccounting,
      ioWeight: this.#d.ioWeight,
      init: this.#d.init,
      ipv4: net.ipv4,
      volumes: (spec.mounts ?? []).map((m, n) => ({ source: volumeMountPoint(paths, n), destination: m.destination })),
      machineApi: spec.machineApi ? this.apiDir(spec.id) : null,
    })
    await writeFile(paths.config, JSON.stringify(config, null, 1))
    await writeFile(paths.spec, JSON.stringify(spec))
    if (systemd) await writeFile(paths.initKind, 'systemd')
    else await rm(paths.initKind, { force: true })
    await writeFile(paths.walls, WALLS_VERSION)
  }

  /** The machine's API directory (MachinePaths.api), made if missing: root's, 0755, in the 0700 directory the driver made at open. */
  apiDir(id: string): string {
    const dir = this.#d.layout.machine(id).api
    mkdirSync(dir, { recursive: true, mode: 0o755 })
    return dir
  }

  /** True when the machine's PID 1 is systemd, which stop must halt with SIGRTMIN+3. */
  async runsSystemd(id: string): Promise<boolean> {
    return (await readFile(this.#d.layout.machine(id).initKind, 'utf8').catch(() => '')) === 'systemd'
  }

  cgroupsPath(id: string): string {
    return `${this.#d.cgroupParent}/${id}`
  }

  /**
   * Everything start needs on disk, cheaply when all is in place (a few stats and one small
   * read): after a reboot the namespaces and the mount are made again; a machine from before
   * the current walls gets them now (one from before user namespaces gets a range, its
   * namespaces and an idmapped mount, keeping its address and its disk, which is already
   * uid-0 based as the idmap expects).
   */
  async prepare(id: string): Promise<{ systemd: boolean; base: number }> {
    const paths = this.#d.layout.machine(id)
    let base = await readBase(paths.idmap)
    let reattached = false
    if (!this.#d.disks.present(id)) {
      // From before the machines filesystem (its upper sits in the machine dir), or a disk lost.
      await unmountOverlay(paths)
      await this.#d.disks.restore(id)
    }
    if (base === null) {
      base = this.#d.ranges.allocate(id)
      await unmountVolumes(paths)
      await unmountOverlay(paths)
      await this.#reattach(id, base)
      await writeFile(paths.idmap, String(base))
      reattached = true
      this.#d.logger?.warn({ machine: id, base }, 'machine moved into a user namespace of its own')
    } else if (this.#d.cni.missing(this.#d.netnsPrefix + id) || this.#d.namespaces.missing(id)) {
      await unmountVolumes(paths)
      await unmountOverlay(paths)
      await this.#reattach(id, base)
      reattached = true
    }
    await ensureMounted(paths, this.#d.namespaces.idmap(id, base))
    await ensureVolumes(paths, this.#d.namespaces.idmap(id, base))
    // A bundle mounting it must find it after a reboot, whether or not anything serves a socket there.
    this.apiDir(id)
    const version = await readFile(paths.walls, 'utf8').catch(() => null)
    if (version !== WALLS_VERSION) {
      await this.#writeBundle(JSON.parse(await readFile(paths.spec, 'utf8')) as MachineSpec, (await this.#network(id))!, base)
      this.#d.logger?.warn({ machine: id, was: version, now: WALLS_VERSION }, 'machine bundle rewritten under the current walls')
    }
    // A new veth and MAC: the firewall must know them before the machine runs.
    if (reattached || !this.#d.firewall.covers(id)) await this.#d.firewall.refresh()
    // Fail closed: a port the rules do not name would go unchecked.
    if (!this.#d.firewall.covers(id)) {
      throw new HangarError('runtime_error', `the firewall has no record of machine ${id}'s network port, so it would run unchecked`, {
        hint: 'see the daemon log for the firewall rebuild; destroy and create the machine if its network record is gone',
      })
    }
    // What start needs next, from what was just read and written rather than read again.
    return { systemd: await this.runsSystemd(id), base }
  }

  /**
   * The machine's overlay mounted and its user namespace present, for the files API: as they
   * always are while it exists, but after a reboot, when only start would make them again.
   */
  async ensureFilesystem(id: string): Promise<void> {
    const paths = this.#d.layout.machine(id)
    if (!isMounted(paths) || this.#d.namespaces.missing(id)) return void (await this.prepare(id))
    // Its volumes too: the files API reaches into them.
    const base = await readBase(paths.idmap)
    if (base !== null) await ensureVolumes(paths, this.#d.namespaces.idmap(id, base))
  }

  async #network(id: string): Promise<StoredNetwork | null> {
    try {
      return JSON.parse(await readFile(this.#d.layout.machine(id).network, 'utf8')) as StoredNetwork
    } catch {
      return null
    }
  }

  async networkInfo(id: string): Promise<NetworkInfo | null> {
    const net = await this.#network(id)
    return net && { ipv4: net.ipv4, ipv6: net.ipv6, hostVeth: net.hostVeth }
  }

  admitDisk(id: string, bytes: number | undefined): void {
    this.#d.disks.admit(id, bytes)
  }

  /** New layers/process/limits (disk size included) for a machine that is not running; rootfs changes and address stay. */
  async reconfigure(spec: MachineSpec): Promise<void> {
    await this.prepare(spec.id)
    const paths = this.#d.layout.machine(spec.id)
    const net = await this.#network(spec.id)
    const base = await readBase(paths.idmap)
    if (!net || base === null) throw new HangarError('machine_not_found', `machine ${spec.id} not found`)
    await this.#d.disks.resize(spec.id, spec.diskBytes)
    await relayer(paths, spec.layers, this.#d.namespaces.idmap(spec.id, base))
    await mountVolumes(paths, spec.mounts ?? [], this.#d.namespaces.idmap(spec.id, base))
    await this.#writeBundle(spec, net, base)
    await this.#d.firewall.refresh()
  }

  /**
   * New namespaces for a machine (after a host reboot they are gone; a machine from before user
   * namespaces has a host-owned netns). The old attachment is released first, so IPAM and
   * iptables hold nothing stale, and the same addresses are asked for again: the platform, the
   * proxy and the machine's env all know the machine by them.
   */
  async #reattach(id: string, base: number): Promise<void> {
    const old = await this.#network(id)
    await this.#d.cni.del(id, old?.netns ?? this.#d.netnsPrefix + id, old?.config ?? null)
    const net = await this.#attach(id, base, old ? [old.ipv4, ...(old.ipv6 ? [old.ipv6] : [])] : [])
    if (old && net.ipv4 !== old.ipv4) this.#d.logger?.warn({ machine: id, was: old.ipv4, now: net.ipv4 }, 'machine address changed on reattach')
  }

  /**
   * Swaps a stopped machine's disk and volumes (a restore): the overlay and the volume mounts come
   * off, `swap` replaces what is under them, and they go back over the new content.
   */
  async replaceDisk(id: string, swap: () => Promise<void>): Promise<void> {
    const paths = this.#d.layout.machine(id)
    const base = await readBase(paths.idmap)
    await unmountVolumes(paths)
    await unmountOverlay(paths)
    try {
      await swap()
    } finally {
      // Back over whatever is there now, swapped or not: the files API expects the mounts.
      // A machine from before user namespaces gets them at its next start, with its range.
      if (base !== null) {
        await ensureMounted(paths, this.#d.namespaces.idmap(id, base))
        await ensureVolumes(paths, this.#d.namespaces.idmap(id, base))
      }
    }
  }

  /** Removes every trace of a machine that no longer runs. Idempotent. */
  async teardown(id: string): Promise<void> {
    const paths = this.#d.layout.machine(id)
    await this.#d.runc.delete(id, true)
    // First and throwing: rootDir goes with rm -r, which must never reach into a volume (nor a tmpfs).
    await unmountVolumes(paths)
    await unmountOverlay(paths)
    await clearSecrets(paths)
    await rm(paths.rootDir, { recursive: true, force: true })
    await this.#d.disks.remove(id)
    const net = await this.#network(id)
    await this.#d.cni.del(id, net?.netns ?? this.#d.netnsPrefix + id, net?.config ?? null)
    await this.#d.namespaces.remove(id)
    const base = await readBase(paths.idmap)
    await rm(paths.exitFile, { force: true })
    await rm(`${this.#d.layout.socketDir}/${id}`, { force: true, recursive: true })
    await rm(paths.api, { force: true, recursive: true })
    await rm(paths.dir, { recursive: true, force: true })
    // Last: the range is free only once nothing of the machine is left.
    if (base !== null) this.#d.ranges.release(base)
    // Rules for a port that is gone are inert: a failed rebuild here must not fail the destroy.
    await this.#d.firewall.refresh().catch((e: unknown) => this.#d.logger?.warn({ machine: id, err: String(e) }, 'firewall rebuild after teardown failed'))
  }
}
