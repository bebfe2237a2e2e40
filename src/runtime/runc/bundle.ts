/**
 * Builds the OCI runtime config (config.json) for one machine: the process
 * from the spec, Docker's default confinement (capabilities, seccomp,
 * no-new-privileges, masked and read-only /proc paths), the standard mounts,
 * cgroup limits from the guest size, and the network namespace CNI set up.
 */
import { existsSync, readdirSync } from 'node:fs'
import type { MachineSpec } from '../types.ts'
import type { OciSeccomp } from './seccomp.ts'
import type { OciUser } from './users.ts'

/**
 * Capabilities within the machine's own user namespace: Docker's set without CAP_MKNOD (no device
 * nodes) and CAP_AUDIT_WRITE. CAP_NET_RAW stays so that programs carrying it as a file capability
 * (Debian's ping) can be executed at all; the raw and packet sockets it would open are refused by
 * the seccomp policy (syscall-policy.ts), and ping uses ICMP datagram sockets (see cni.ts).
 */
export const DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL',
]

/**
 * Docker's masked paths (moby's oci/defaults.go), with the powercap and per-CPU thermal_throttle
 * knobs it added later (the latter expanded here, as Docker does, from the host's CPUs).
 */
const MASKED = [
  '/proc/acpi', '/proc/asound', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
  ...thermalThrottle(),
]

function thermalThrottle(): string[] {
  const cpus = '/sys/devices/system/cpu'
  try {
    return readdirSync(cpus).filter((d) => /^cpu\d+$/.test(d) && existsSync(`${cpus}/${d}/thermal_throttle`)).map((d) => `${cpus}/${d}/thermal_throttle`)
  } catch {
    return []
  }
}
const READONLY = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']

const CPU_PERIOD = 100_000

export interface BundleInput {
  spec: MachineSpec
  /** Absolute path of the mounted root filesystem. */
  rootfs: string
  user: OciUser
  netnsPath: string
  /** The machine's user namespace (it owns the netns) and the host ids its 0..size-1 map to. */
  userns: { path: string; base: number; size: number }
  cgroupsPath: string
  seccomp: OciSeccomp
  /** Host files bind-mounted over the machine's /etc/resolv.conf and /etc/hosts. */
  resolvConf: string
  hosts: string
  /** Whether memory.memsw exists (cgroup v1 swap accounting); then swap is disabled too. */
  swapAccounting: boolean
  /** Whether the host's block cgroup takes proportional weights (BFQ); then a machine's I/O share follows its CPUs. */
  ioWeight: boolean
  /** A static init (tini) bind-mounted as PID 1, or null to run the app as PID 1. */
  init: string | null
  /** The machine's private IPv4, for spec.addressEnv. */
  ipv4: string
  /**
   * systemd as PID 1 instead of tini (systemd.ts): what it needs to boot in a container, and a
   * journald drop-in (a host file) that forwards the journal to the console, which conmon logs.
   */
  systemd: { journaldDropIn: string } | null
  /** Volumes: host mount points already idmapped into the machine's user namespace (volume-mounts.ts), and where each appears. */
  volumes: { source: string; destination: string }[]
  /** The machine's API directory (MachinePaths.api), mounted read-only at /.fly; null for none. */
  machineApi: string | null
}

/** Where the machine's API directory appears: the daemon's socket in it is /.fly/api, as on Fly. */
export const MACHINE_API_MOUNT = '/.fly'

/** Where the init appears inside the machine. */
export const INIT_PATH = '/.hangar-init'

function mount(destination: string, type: string, source: string, options: string[]) {
  return { destination, type, source, options }
}

/** The config.json object. */
export function buildConfig(input: BundleInput): Record<string, unknown> {
  const { spec } = input
  const named = new Set(spec.addressEnv ?? [])
  const given = [...spec.process.env.filter((e) => !named.has(e.slice(0, e.indexOf('=')))), ...[...named].map((k) => `${k}=${input.ipv4}`)]
  const env = given.some((e) => e.startsWith('PATH='))
    ? given
    : ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...given]
  const memory = Math.max(4, spec.guest.memoryMb) * 1024 * 1024
  const sd = input.systemd
  // In a container systemd reads its own argv as the kernel command line. A getty on the console
  // would hang it up (vhangup) and with it journald's forwarding into `machine logs`; consoles for
  // people are `hangar machine console`.
  const args = sd
    ? [...spec.process.args, 'systemd.mask=console-getty.service']
    : input.init ? [INIT_PATH, '-g', '--', ...spec.process.args] : spec.process.args
  return {
    ociVersion: '1.0.2',
    hostname: spec.id,
    root: { path: input.rootfs, readonly: false },
    process: {
      // systemd writes its status and (forwarded) journal to the console: a terminal conmon logs.
      terminal: sd !== null,
      user: input.user,
      // As PID 1 the app would ignore SIGTERM unless it installs a handler, and
      // orphans would never be reaped; tini forwards signals (to the whole process
      // group, -g) and reaps, as Fly's init does inside its VMs. systemd does both itself.
      args,
      env: [...env, `HOSTNAME=${spec.id}`, ...(sd ? ['container=hangar'] : [])],
      cwd: spec.process.cwd || '/',
      capabilities: { bounding: DEFAULT_CAPS, effective: DEFAULT_CAPS, permitted: DEFAULT_CAPS },
      // setuid programs (su, sudo) must work as on a VM; inside its user namespace the most they
      // reach is the machine's own root, which the filter and the capability set still bound.
      noNewPrivileges: false,
      oomScoreAdj: 500,
    },
    mounts: [
      mount('/proc', 'proc', 'proc', ['nosuid', 'noexec', 'nodev']),
      mount('/dev', 'tmpfs', 'tmpfs', ['nosuid', 'strictatime', 'mode=755', 'size=65536k']),
      mount('/dev/pts', 'devpts', 'devpts', ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']),
      mount('/dev/shm', 'tmpfs', 'shm', ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k']),
      mount('/dev/mqueue', 'mqueue', 'mqueue', ['nosuid', 'noexec', 'nodev']),
      mount('/sys', 'sysfs', 'sysfs', ['nosuid', 'noexec', 'nodev', 'ro']),
      // systemd manages its own subtree (cgroup namespace; delegated by the driver at start).
      mount('/sys/fs/cgroup', 'cgroup', 'cgroup', ['nosuid', 'noexec', 'nodev', 'relatime', sd ? 'rw' : 'ro']),
      ...(sd
        ? [
          mount('/run', 'tmpfs', 'tmpfs', ['nosuid', 'nodev', 'mode=755', 'size=65536k']),
          mount('/run/lock', 'tmpfs', 'tmpfs', ['nosuid', 'nodev', 'noexec', 'size=5120k']),
          mount('/tmp', 'tmpfs', 'tmpfs', ['nosuid', 'nodev', 'mode=1777']),
          mount('/etc/systemd/journald.conf.d/50-hangar-console.conf', 'bind', sd.journaldDropIn, ['rbind', 'rprivate', 'ro', 'nosuid', 'nodev', 'noexec']),
        ]
        : []),
      mount('/etc/resolv.conf', 'bind', input.resolvConf, ['rbind', 'rprivate', 'nosuid', 'nodev', 'noexec']),
      mount('/etc/hosts', 'bind', input.hosts, ['rbind', 'rprivate', 'nosuid', 'nodev', 'noexec']),
      // After the standard mounts, so a volume on a path below one of them lands on top.
      ...input.volumes.map((v) => mount(v.destination, 'bind', v.source, ['rbind', 'rprivate', 'nosuid', 'nodev'])),
      ...(input.init && !sd ? [mount(INIT_PATH, 'bind', input.init, ['rbind', 'rprivate', 'ro', 'nosuid', 'nodev'])] : []),
      // Last, so no volume can shadow it; read-only, so the machine's root can neither remove nor replace the socket.
      ...(input.machineApi ? [mount(MACHINE_API_MOUNT, 'bind', input.machineApi, ['rbind', 'rprivate', 'ro', 'nosuid', 'nodev', 'noexec'])] : []),
    ],
    linux: {
      namespaces: [
        { type: 'pid' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        { type: 'user', path: input.userns.path },
        ...(sd ? [{ type: 'cgroup' }] : []),
        { type: 'network', path: input.netnsPath },
      ],
      // runc 1.1 wants the maps even when joining a user namespace, and does not check them: keep them its own.
      uidMappings: [{ containerID: 0, hostID: input.userns.base, size: input.userns.size }],
      gidMappings: [{ containerID: 0, hostID: input.userns.base, size: input.userns.size }],
      cgroupsPath: input.cgroupsPath,
      resources: {
        // Deny all devices; runc adds its standard allowlist (null, zero, tty, …) on top.
        devices: [{ allow: false, access: 'rwm' }],
        cpu: { period: CPU_PERIOD, quota: Math.round(Math.max(0.01, spec.guest.cpus) * CPU_PERIOD) },
        memory: { limit: memory, ...(input.swapAccounting ? { swap: memory } : {}) },
        // The kernel's default weight is 100: a 1-CPU machine gets the default share, a bigger one more.
        ...(input.ioWeight ? { blockIO: { weight: Math.min(1000, Math.max(10, Math.round(100 * spec.guest.cpus))) } } : {}),
        pids: { limit: 4096 },
      },
      maskedPaths: MASKED,
      readonlyPaths: READONLY,
      seccomp: input.seccomp,
    },
  }
}
