/**
 * The runc driver: machines as OCI containers (runc under conmon, overlayfs
 * rootfs on a disk with a quota, CNI bridge networking). Probes the host once
 * and reports what it found.
 *
 *   const driver = await createRuncDriver({ stateDir: '/var/lib/hangar/runtime',
 *     network: { name: 'hangar', bridge: 'hangar0', subnet: '10.209.0.0/24', subnet6: 'fd00:4a:6e::/64' } })
 *   const net = await driver.create(spec); await driver.start(spec.id)
 */
import { constants, existsSync, readFileSync } from 'node:fs'
import { access, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { HangarError } from '../../errors.ts'
import type { Driver } from '../types.ts'
import { DEFAULT_CAPS } from './bundle.ts'
import { assertSubnetFree } from './subnet-check.ts'
import { RuncCheckpoints } from './capture.ts'
import { Cni, type NetworkOptions } from './cni.ts'
import { RuncDriver } from './driver.ts'
import { Checkpoints, Disks, Volumes, openMachinesFs, type MachinesFsOptions } from '../../rootfs/index.ts'
import { Layout } from './layout.ts'
import { IdRanges } from './id-ranges.ts'
import { buildHelper, buildNsHelper } from './native.ts'
import { RuncFiles } from './files.ts'
import { MachineFirewall } from './machine-firewall.ts'
import { Provisioner } from './provision.ts'
import { Namespaces } from './userns.ts'
import { Runc } from './runc.ts'
import { loadProfile } from './seccomp.ts'

export interface RuncDriverOptions {
  /** Root of all driver state, e.g. <data-dir>/runtime; instances with different stateDirs are independent. */
  stateDir: string
  runcPath?: string
  conmonPath?: string
  cniPluginDir?: string
  network: NetworkOptions
  /** Prefix of the machines' netns names under /run/netns; default "hangar-". */
  netnsPrefix?: string
  /** cgroup path under which each machine gets `<parent>/<id>`; default "/hangar". */
  cgroupParent?: string
  /** A containers-common/Docker seccomp profile; default the one Debian ships. */
  seccompProfile?: string
  /** A static init run as every machine's PID 1; default Debian's tini-static when present, null for none. */
  init?: string | null
  /** Where machines' disks live (machines-fs.ts); default `none`: no quotas. The daemon's default is an image. */
  machinesFs?: MachinesFsOptions
  /** The disk limit of a machine whose spec names none; default 4 GB. */
  defaultDiskBytes?: number
  /** How far the disk limits together may exceed the machines filesystem; default 1 (never). */
  diskOvercommit?: number
  /**
   * Resolvers the DNS forwarder of apps with domain rules asks (`ip`, `ip:port`, `[ip6]:port`);
   * default (empty or absent): the host's /etc/resolv.conf nameservers, loopback ones included.
   */
  dnsUpstreams?: string[]
  logger?: { warn: (obj: object, msg: string) => void }
}

async function need(path: string, what: string): Promise<void> {
  try {
    await access(path, constants.X_OK)
  } catch {
    throw new HangarError('unavailable', `${what} not found at ${path}`)
  }
}

function ipv6Enabled(): boolean {
  try {
    return existsSync('/proc/net/if_inet6') && readFileSync('/proc/sys/net/ipv6/conf/all/disable_ipv6', 'utf8').trim() === '0'
  } catch {
    return false
  }
}

/** Probes runc, conmon, CNI plugins, overlayfs, IPv6 and seccomp, opens the machines filesystem, then returns a watching driver. */
export { unmountMachinesFs, type MachinesFsOptions } from '../../rootfs/index.ts'

export async function createRuncDriver(opts: RuncDriverOptions): Promise<Driver> {
  const runcPath = opts.runcPath ?? '/usr/sbin/runc'
  const conmonPath = opts.conmonPath ?? '/usr/bin/conmon'
  const cniPluginDir = opts.cniPluginDir ?? '/usr/lib/cni'
  await need(runcPath, 'runc')
  await need(conmonPath, 'conmon')
  await need('/usr/sbin/nft', 'nft (Debian package nftables), which holds each machine to its own addresses and app')
  for (const p of ['bridge', 'host-local', 'loopback']) await need(join(cniPluginDir, p), `CNI plugin ${p}`)
  if (!readFileSync('/proc/filesystems', 'utf8').includes('overlay')) throw new HangarError('unavailable', 'the kernel has no overlayfs')

  await assertSubnetFree(opts.network)
  await mkdir(opts.stateDir, { recursive: true })
  const fs = await openMachinesFs(opts.stateDir, opts.machinesFs ?? { kind: 'none' })
  const layout = new Layout(opts.stateDir, fs.quota ? fs.dir : null)
  for (const d of [layout.machinesDir, layout.exitsDir, layout.runcRoot, layout.cniDataDir, layout.socketDir]) await mkdir(d, { recursive: true })

  const seccomp = await loadProfile(opts.seccompProfile ?? '/usr/share/containers/seccomp.json', DEFAULT_CAPS)
  const ipv6 = { value: ipv6Enabled() }
  const init = opts.init === undefined ? (existsSync('/usr/bin/tini-static') ? '/usr/bin/tini-static' : null) : opts.init
  if (!init) opts.logger?.warn({}, 'no /usr/bin/tini-static (Debian package tini): apps run as PID 1 and may ignore SIGTERM')
  // BFQ's weight files exist where its module is loaded (cgroup v1), or the io controller is enabled (v2).
  const ioWeight = existsSync('/sys/fs/cgroup/blkio/blkio.bfq.io_serviced')
    || (existsSync('/sys/fs/cgroup/cgroup.controllers') && readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').split(/\s+/).includes('io'))
  const capabilities = {
    memorySnapshots: false,
    seccomp: true,
    init: init !== null,
    diskQuota: fs.quota,
    ioWeight,
    // A getter: the first create that finds IPv6 refused by the kernel turns it off.
    get ipv6(): boolean {
      return ipv6.value
    },
  }
  const runc = new Runc({ path: runcPath, root: layout.runcRoot })
  const cni = new Cni({ pluginDir: cniPluginDir, network: opts.network, dataDir: layout.cniDataDir })
  const netnsPrefix = opts.netnsPrefix ?? 'hangar-'
  const firewall = new MachineFirewall(layout, opts.network, { upstreams: opts.dnsUpstreams?.length ? opts.dnsUpstreams : null }, opts.logger)
  const disks = await Disks.load({ layout, fs, defaultBytes: opts.defaultDiskBytes ?? 4 * 2 ** 30, overcommit: opts.diskOvercommit ?? 1, ...(opts.logger ? { logger: opts.logger } : {}) })
  // Beside the disks on the machines filesystem, so a snapshot is O(1); without one, in the state dir.
  const checkpoints = new Checkpoints(join(fs.quota ? fs.dir : opts.stateDir, 'checkpoints'), disks)
  await checkpoints.open()
  // In the disks' ledger: volumes and disks together never promise more than the filesystem gives out.
  const volumes = await Volumes.load(fs, disks)
  const provisioner = new Provisioner({
    layout,
    runc,
    cni,
    seccomp,
    netnsPrefix,
    cgroupParent: opts.cgroupParent ?? '/hangar',
    swapAccounting: existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes'),
    ioWeight,
    init,
    ipv6,
    firewall,
    ranges: await IdRanges.load(layout, opts.logger ? { logger: opts.logger } : {}),
    namespaces: new Namespaces(await buildNsHelper(), layout),
    disks,
    checkpoints,
    ...(opts.logger ? { logger: opts.logger } : {}),
  })
  const files = new RuncFiles(await buildHelper('hangar-fs'), layout, async (id) => {
    if (!existsSync(layout.machine(id).config)) throw new HangarError('machine_not_found', `machine ${id} not found`)
    await provisioner.ensureFilesystem(id)
  })
  const driver = new RuncDriver({
    files,
    layout,
    runc,
    provisioner,
    conmon: { conmonPath, runcPath, runcRoot: layout.runcRoot, exitsDir: layout.exitsDir, socketDir: layout.socketDir },
    capabilities,
    firewall,
    checkpoints: new RuncCheckpoints({ layout, runc, checkpoints, provisioner, volumes }),
    volumes,
    logger: opts.logger ?? { warn: () => {} },
  })
  await driver.open()
  return driver
}
