/**
 * The contract between the platform and a machine runtime (runc today, microVMs
 * later). Small verbs on one id; the platform never shells out itself.
 */
import type { Readable } from 'node:stream'

/** What a machine runs, fully resolved by the platform (image config + init overrides). */
export interface ProcessSpec {
  args: string[]
  /** KEY=VALUE pairs. */
  env: string[]
  cwd: string
  /** "uid", "uid:gid" or a name resolved against the rootfs /etc/passwd; default root. */
  user?: string
}

export interface MachineSpec {
  /** Machine id (14 hex chars); also the hostname. */
  id: string
  /** Unpacked image layer directories, bottom layer first, all read-only. */
  layers: string[]
  process: ProcessSpec
  guest: { cpus: number; memoryMb: number }
  /** Signal sent by stop when the caller gives none, e.g. "SIGTERM". */
  stopSignal: string
  /**
   * Env vars to set to the machine's private IPv4 once the network has given it
   * one (e.g. FLY_PRIVATE_IP): the address is known only inside create.
   */
  addressEnv?: string[]
  /** The limit on the machine's writable layer (its disk), in bytes; the driver's default when absent. */
  diskBytes?: number
  /**
   * The machine's network group (its app): machines of one group reach each other on their private
   * addresses and share one egress policy; no machine reaches another group's. Default: its own.
   */
  group?: string
  /** Create only: the checkpoint key (Driver.checkpoints) whose disk the machine starts from, for a fork. */
  diskSeed?: string
  /** Volumes mounted into the machine (Driver.volumes paths), seen through its user namespace. */
  mounts?: VolumeMount[]
  /**
   * Mount the machine's API directory (Driver.machineApiDir) read-only at /.fly: whoever serves the
   * Machines API to the machine listens on the socket `api` there, which the machine sees as /.fly/api.
   */
  machineApi?: boolean
}

/**
 * What a machine is given at one start and that is never written to the data dir: env vars from its
 * app's secrets (they win over the process env of the same name) and its config.files. The driver
 * holds them in memory for as long as the process runs (runc: a tmpfs of the machine's own).
 */
export interface StartSecrets {
  /** KEY=VALUE pairs. */
  env: string[]
  /** Read-only files at absolute paths inside the machine, owned by its root. */
  files: { path: string; content: Buffer; mode: number }[]
}

export interface VolumeMount {
  /** The volume on the host: DriverVolumes.path(id). */
  source: string
  /** Absolute path inside the machine, never "/". */
  destination: string
}

/** Sized filesystems that outlive machines (volumes), by ids the caller picks and records. */
export interface DriverVolumes {
  /** False where nothing could enforce a volume's size: then create throws volumes_unsupported. */
  readonly supported: boolean
  path(id: string): string
  /** Makes the volume, empty or from a snapshot or another volume (O(1)); refused, naming the limit, when the host cannot hold it. */
  create(id: string, bytes: number, seed?: { snapshot: string } | { volume: string }): Promise<void>
  /** A larger size at once; smaller is refused. */
  extend(id: string, bytes: number): Promise<void>
  /** A read-only snapshot; `uuid` names its frozen content. */
  snapshot(id: string, snapshotId: string): Promise<{ sizeBytes: number; uuid: string }>
  usage(id: string): Promise<{ used: number; limit: number | null }>
  /** Idempotent; the volume must be mounted in no machine. */
  remove(id: string): Promise<void>
  removeSnapshot(snapshotId: string): Promise<void>
  hasSnapshot(snapshotId: string): boolean
  /** Puts a snapshot back as the volume's content (its limit kept); no machine may have it mounted. */
  replace(id: string, snapshotId: string): Promise<void>
  ids(): Promise<string[]>
  snapshotIds(): Promise<string[]>
}

/**
 * One egress rule of a group's policy, in order, first match wins: a CIDR rule judges packets by
 * destination; a domain rule (`example.com`, `*.example.com`, or `*` for every name) judges DNS
 * queries by name, and the addresses an allowed name resolves to are accepted before any CIDR rule.
 */
export type EgressRule = { cidr: string; action: 'allow' | 'deny' } | { domain: string; action: 'allow' | 'deny' }

export interface NetworkInfo {
  ipv4: string
  ipv6: string | null
  /** Host-side veth name, for tests and cleanup checks. */
  hostVeth: string | null
}

export interface ExitInfo {
  /** Exit code; 128+N when killed by signal N. */
  exitCode: number
  /** Signal name when the process was killed by one, else null. */
  signal: string | null
  oomKilled: boolean
  /** Unix ms. */
  exitedAt: number
}

export type RuntimeStatus = 'absent' | 'created' | 'running' | 'paused' | 'stopped'

export interface Inspection {
  status: RuntimeStatus
  pid: number | null
  /** Present once the machine's process has exited and until the next start. */
  exit: ExitInfo | null
}

export interface ExecOptions {
  cmd: string[]
  env?: string[]
  stdin?: string
  timeoutMs: number
  /** Cap on each of stdout and stderr. */
  maxBytes: number
  /**
   * The caller gave up (a cancelled MCP call, a REST client that went away): the command is
   * killed in the machine as at the timeout, and exec resolves with that exit (timedOut false).
   * Already aborted: nothing runs, exec rejects with the signal's reason.
   */
  signal?: AbortSignal
}

export interface ExecResult {
  exitCode: number
  exitSignal: string | null
  stdout: string
  stderr: string
  stdoutTruncated: boolean
  stderrTruncated: boolean
  timedOut: boolean
}

export interface ConsoleOptions {
  cmd: string[]
  cols: number
  rows: number
  term?: string
}

/** A terminal session: bytes in, bytes out (the terminal echoes), until the command exits. */
export interface ConsoleSession {
  input: NodeJS.WritableStream
  output: NodeJS.ReadableStream
  /** The command's exit code. */
  exited: Promise<number>
  /** Hangs up the terminal. */
  close(): void
}

export interface LogLine {
  /** RFC 3339 with nanoseconds, as conmon wrote it. */
  timestamp: string
  stream: 'stdout' | 'stderr'
  message: string
}

export interface LogOptions {
  /** Lines to return from the end of the log before following; default all. */
  tail?: number
  follow?: boolean
  signal?: AbortSignal
}

export interface DriverCapabilities {
  /** Checkpoint/restore of memory (suspend that survives stop). False for runc: suspend freezes. */
  memorySnapshots: boolean
  ipv6: boolean
  seccomp: boolean
  /** A signal-forwarding, zombie-reaping init runs as PID 1 in front of the app. */
  init: boolean
  /** Each machine's disk has a limit the kernel enforces (MachineSpec.diskBytes); without it a size is refused. */
  diskQuota: boolean
  /** A machine's share of block I/O follows its size (a proportional weight the kernel's scheduler honours where BFQ runs). */
  ioWeight: boolean
}

/** A volume and the snapshot id its frozen copy gets (or is restored from). */
export interface VolumeSnapshotRequest {
  volume: string
  snapshot: string
}

/** Frozen copies of machines' disks, by keys the caller picks and records. */
export interface DriverCheckpoints {
  /**
   * Freezes the machine's disk under `key`, and each of `volumes` as a volume snapshot, all at one
   * instant: a running machine's processes are frozen while they are taken.
   */
  capture(id: string, key: string, volumes?: VolumeSnapshotRequest[]): Promise<{ sizeBytes: number; volumes: { snapshot: string; sizeBytes: number; uuid: string }[] }>
  /**
   * Puts `key` back as the disk of a machine that is not running (another machine's checkpoint too:
   * the caller decides), and each volume as its snapshot; the volumes must be the machine's own.
   */
  restore(id: string, key: string, volumes?: VolumeSnapshotRequest[]): Promise<void>
  /** Idempotent. */
  remove(key: string): Promise<void>
  /** Every key on disk, for sweeping what a crash left unrecorded. */
  keys(): Promise<string[]>
}

/** One entry of a directory listing in a machine; ids and mode as the machine sees them. */
export interface FileEntry {
  name: string
  /** Absolute inside the machine. */
  path: string
  type: 'file' | 'directory' | 'symlink' | 'other'
  size: number
  /** Permission bits (07777). */
  mode: number
  uid: number
  gid: number
  /** RFC 3339. */
  modTime: string
  isDir: boolean
  /** A symlink's target, as written. */
  target?: string
}

/**
 * Files in a machine, running or stopped, as the machine's root sees them. Paths are absolute
 * and normalised by the caller; the driver confines them to the machine (symlinks and `..`
 * resolve inside it). Failures are HangarErrors carrying details.errno.
 */
export interface MachineFiles {
  /**
   * Puts the machine's filesystem in place where it is not (after a host reboot, as start would);
   * cheap when it is. The platform calls it under the machine's lock; the operations below then
   * refuse (runtime_error) a machine whose filesystem is not mounted rather than remount it.
   */
  ready(id: string): Promise<void>
  /** The file's bytes as a stream; a directory is EISDIR, anything but a regular file EINVAL. */
  read(id: string, path: string): Promise<{ size: number; mode: number; stream: Readable }>
  /** Atomic: the bytes go to a temp file in the same directory, then replace `path`. Default mode: the old file's, else 0644. */
  write(id: string, path: string, data: Readable, opts: { mode?: number; mkdirParents?: boolean }): Promise<{ size: number; mode: number }>
  mkdir(id: string, path: string, opts: { mode?: number; mkdirParents?: boolean }): Promise<{ mode: number }>
  /** A directory's entries (depth-first when recursive) up to `max`; a file lists as itself. */
  list(id: string, path: string, opts: { recursive: boolean; max: number }): Promise<{ isDir: boolean; entries: FileEntry[]; truncated: boolean }>
  /** Every path removed, up to `maxListed` of them; `count` counts them all. */
  delete(id: string, path: string, opts: { recursive: boolean; maxListed: number }): Promise<{ deleted: string[]; count: number }>
  rename(id: string, from: string, to: string): Promise<void>
  copy(id: string, from: string, to: string, opts: { recursive: boolean; preserveAttrs: boolean }): Promise<void>
  chmod(id: string, path: string, mode: number, opts: { recursive: boolean }): Promise<void>
  /** -1 leaves an id as it is. */
  chown(id: string, path: string, uid: number, gid: number, opts: { recursive: boolean }): Promise<void>
  /** The directory as a tar stream (symlinks as symlinks, numeric owners). */
  tarCreate(id: string, dir: string): Promise<Readable>
  /** Unpacks a tar stream into the directory, which must exist. */
  tarExtract(id: string, dir: string, data: Readable): Promise<void>
}

export type ExitListener = (id: string, exit: ExitInfo) => void

export interface Driver {
  readonly name: string
  readonly capabilities: DriverCapabilities
  /** Sets up everything a start needs (rootfs, bundle, network); runs nothing. All-or-nothing. */
  create(spec: MachineSpec): Promise<NetworkInfo>
  /** Throws, naming the limit, when the machine cannot have a disk of this many bytes (undefined: the default); create and reconfigure check again. */
  admitDisk?(id: string, bytes: number | undefined): void
  /** Rewrites the process, limits and layers of a stopped machine; keeps its rootfs changes and address. */
  reconfigure(spec: MachineSpec): Promise<void>
  /** Runs the machine's process, with `secrets` for this run only. Must not touch the image store. */
  start(id: string, secrets?: StartSecrets): Promise<{ pid: number }>
  /** Signal, wait up to graceMs, then SIGKILL; resolves once the process is gone. No-op if not running. */
  stop(id: string, opts: { signal?: string; graceMs: number }): Promise<ExitInfo | null>
  signal(id: string, signal: string): Promise<void>
  /** Freezes every process of the machine (cgroup freezer); thaw resumes them. */
  freeze(id: string): Promise<void>
  thaw(id: string): Promise<void>
  exec(id: string, opts: ExecOptions): Promise<ExecResult>
  /** An interactive terminal running opts.cmd in a running machine. */
  console(id: string, opts: ConsoleOptions): Promise<ConsoleSession>
  logs(id: string, opts: LogOptions): AsyncIterable<LogLine>
  inspect(id: string): Promise<Inspection>
  /** Ids of every machine this driver holds on disk, for reconciliation after a daemon restart. */
  list(): Promise<string[]>
  /** The image layer directories every machine on disk (even a half-created one) mounts, which image gc must keep. */
  layersInUse?(): Promise<string[]>
  /** Puts a group's egress rules in force (an empty list restores the defaults); kept across restarts. */
  setEgressPolicy?(group: string, rules: EgressRule[]): Promise<void>
  /** Checkpoints of machines' disks (restore, fork); absent where the driver keeps none. */
  readonly checkpoints?: DriverCheckpoints
  /** Files in a machine, running or stopped, without starting it. */
  readonly files?: MachineFiles
  /** Volumes (MachineSpec.mounts names their paths); absent where the driver has none. */
  readonly volumes?: DriverVolumes
  /**
   * The host directory mounted at /.fly in machine `id` when its spec asks (MachineSpec.machineApi),
   * made if missing; it lasts until destroy. A Unix socket made in it is reachable from inside that
   * machine and, on the host, by root only: its parent is a directory no other user may enter.
   */
  machineApiDir?(id: string): string
  /** Stops if needed and removes everything: mounts, network, state, files. Idempotent. */
  destroy(id: string): Promise<void>
  /** Called once per process exit, whether Hangar stopped it or it exited by itself. */
  onExit(listener: ExitListener): () => void
  /** Stops watching; leaves machines running. */
  close(): Promise<void>
}
