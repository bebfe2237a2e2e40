/**
 * The runc Driver: machines as OCI containers under conmon. create/reconfigure
 * /destroy live in provision.ts; this file holds the run-time verbs. start is
 * the hot path and does only: the provisioner's checks (namespaces, mount,
 * walls version), clear old exit files, conmon + runc create, runc start — no
 * image store, no CNI, no config rebuild unless the walls changed.
 */
import { existsSync } from 'node:fs'
import { chmod, mkdir, readdir, readFile, readlink, rm, rmdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { constants } from 'node:os'
import { setTimeout as delay } from 'node:timers/promises'
import { HangarError } from '../../errors.ts'
import type {
  ConsoleOptions, ConsoleSession, Driver, DriverCapabilities, DriverVolumes, EgressRule, ExecOptions, ExecResult, ExitInfo, ExitListener, Inspection, LogLine, LogOptions, MachineFiles,
  MachineSpec, NetworkInfo, StartSecrets,
} from '../types.ts'
import { conmonCreate, type ConmonOptions } from './conmon.ts'
import { runcExec } from './exec.ts'
import { runcConsole } from './console.ts'
import { ExitWatcher, readExit } from './exits.ts'
import { isMachineId, type Layout } from './layout.ts'
import { readLogs } from './logs.ts'
import type { MachineFirewall } from './machine-firewall.ts'
import type { Provisioner } from './provision.ts'
import { SYSTEMD_STOP_SIGNAL, delegateCgroups } from './systemd.ts'
import type { Runc } from './runc.ts'
import type { RuncCheckpoints } from './capture.ts'
import { clearSecrets, mountSecrets } from './start-secrets.ts'

export interface RuncDriverDeps {
  layout: Layout
  runc: Runc
  provisioner: Provisioner
  conmon: ConmonOptions
  capabilities: DriverCapabilities
  firewall: MachineFirewall
  checkpoints: RuncCheckpoints
  volumes: DriverVolumes
  /** Files in a machine (files.ts); built by createRuncDriver around the files helper. */
  files: MachineFiles
  logger: { warn: (obj: object, msg: string) => void }
}

/** How long stop waits for a process to die after SIGKILL before calling it a runtime error. */
const KILL_WAIT_MS = 10_000

/** "SIGTERM", "TERM" or "15" → "SIGTERM"; anything else is the caller's mistake. */
function normalizeSignal(sig: string): string {
  const upper = sig.toUpperCase()
  const name = /^\d+$/.test(sig) ? Object.entries(constants.signals).find(([, n]) => n === Number(sig))?.[0] : upper.startsWith('SIG') ? upper : `SIG${upper}`
  if (!name || !(name in constants.signals)) throw new HangarError('invalid_argument', `unknown signal "${sig}"`, { hint: 'use a name like SIGTERM, SIGINT or SIGKILL' })
  return name
}

export class RuncDriver implements Driver {
  readonly name = 'runc'
  readonly capabilities: DriverCapabilities
  readonly files: MachineFiles
  #d: RuncDriverDeps
  #exits: ExitWatcher
  #listeners = new Set<ExitListener>()
  readonly checkpoints: RuncCheckpoints
  readonly volumes: DriverVolumes

  constructor(deps: RuncDriverDeps) {
    this.#d = deps
    this.capabilities = deps.capabilities
    this.checkpoints = deps.checkpoints
    this.volumes = deps.volumes
    this.files = deps.files
    this.#exits = new ExitWatcher(deps.layout, async (id, exit) => {
      // Clear runc's "stopped" record right away, so the next start has nothing to delete;
      // and the secrets, which nothing needs once the process is gone.
      await deps.runc.delete(id)
      await clearSecrets(deps.layout.machine(id)).catch((e: unknown) => deps.logger.warn({ err: e, id }, 'could not clear the machine\'s secrets after its exit'))
      for (const l of this.#listeners) {
        try {
          l(id, exit)
        } catch (e) {
          deps.logger.warn({ err: e, id }, 'exit listener threw')
        }
      }
    })
  }

  /** Begins watching exits and puts the firewall back in step with the machines on disk; called once by createRuncDriver. */
  async open(): Promise<void> {
    // Only root may enter: the machines' API sockets inside must not be reachable by other host users.
    await mkdir(this.#d.layout.apiDir, { recursive: true, mode: 0o700 })
    await chmod(this.#d.layout.apiDir, 0o700)
    await this.#d.checkpoints.recover()
    await this.#exits.start()
    await this.#d.firewall.refresh()
  }

  setEgressPolicy(group: string, rules: EgressRule[]): Promise<void> {
    return this.#d.firewall.setPolicy(group, rules)
  }

  #known(id: string): void {
    if (!existsSync(this.#d.layout.machine(id).config)) throw new HangarError('machine_not_found', `machine ${id} not found`)
  }

  create(spec: MachineSpec): Promise<NetworkInfo> {
    return this.#d.provisioner.create(spec)
  }

  machineApiDir(id: string): string {
    this.#known(id)
    return this.#d.provisioner.apiDir(id)
  }

  admitDisk(id: string, bytes: number | undefined): void {
    this.#d.provisioner.admitDisk(id, bytes)
  }

  async reconfigure(spec: MachineSpec): Promise<void> {
    this.#known(spec.id)
    const st = await this.#d.runc.state(spec.id)
    if (st && st.status !== 'stopped') throw new HangarError('invalid_state', `machine ${spec.id} is ${st.status}; reconfigure needs it stopped`)
    await this.#d.runc.delete(spec.id)
    await this.#d.provisioner.reconfigure(spec)
  }

  async start(id: string, secrets?: StartSecrets): Promise<{ pid: number }> {
    this.#known(id)
    const paths = this.#d.layout.machine(id)
    if (this.#d.runc.has(id)) {
      // Left over from an exit nobody collected, or a start cut short by a crash.
      const st = await this.#d.runc.state(id)
      if (st?.status === 'running' || st?.status === 'paused') throw new HangarError('invalid_state', `machine ${id} is already ${st.status}`)
      await this.#d.runc.delete(id, true)
    }
    const init = await this.#d.provisioner.prepare(id)
    await Promise.all([rm(paths.exitFile, { force: true }), rm(`${paths.persist}/oom`, { force: true }), rm(`${paths.persist}/exit`, { force: true })])
    this.#exits.reset(id)
    // With secrets, runc gets the bundle copy in the machine's tmpfs; without, the bundle on the data dir (and a stat).
    const bundle = secrets && (secrets.env.length || secrets.files.length) ? await mountSecrets(paths, init.base, secrets) : (await clearSecrets(paths), paths.dir)
    try {
      const pid = await conmonCreate(id, paths, this.#d.conmon, { terminal: init.systemd, bundle })
      try {
        // Its cgroup exists once runc has created the container, and must be its own before systemd runs.
        if (init.systemd) await delegateCgroups(this.#d.provisioner.cgroupsPath(id), init.base)
        await this.#d.runc.start(id)
      } catch (e) {
        await this.#d.runc.delete(id, true)
        throw e
      }
      return { pid }
    } catch (e) {
      await clearSecrets(paths).catch(() => {})
      throw e
    }
  }

  async stop(id: string, opts: { signal?: string; graceMs: number }): Promise<ExitInfo | null> {
    this.#known(id)
    const st = await this.#d.runc.state(id)
    if (!st || st.status === 'stopped') {
      await clearSecrets(this.#d.layout.machine(id))
      return null
    }
    const graceMs = Math.max(0, opts.graceMs)
    // One waiter for the whole stop, registered before any signal, so no exit can slip past.
    const exited = this.#exits.next(id, graceMs + KILL_WAIT_MS)
    if (st.status === 'paused') await this.#d.runc.resume(id)
    // systemd halts on SIGRTMIN+3 (SIGTERM would make it re-execute itself); runc takes it by number.
    const signal = opts.signal === undefined && (await this.#d.provisioner.runsSystemd(id)) ? SYSTEMD_STOP_SIGNAL : normalizeSignal(opts.signal ?? (await this.#stopSignal(id)))
    const delivered = st.status !== 'created' && (await this.#d.runc.kill(id, signal))
    const grace = new AbortController()
    let exit = delivered ? await Promise.race([exited, delay(graceMs, null, { signal: grace.signal }).catch(() => null)]) : null
    grace.abort()
    if (!exit) {
      await this.#d.runc.kill(id, 'SIGKILL', true)
      exit = await exited
    }
    // A machine that exited just before we looked: its exit was already delivered.
    exit ??= await readExit(this.#d.layout, id)
    if (!exit && this.#d.runc.has(id)) throw new HangarError('runtime_error', `machine ${id} did not exit after SIGKILL`)
    await this.#d.runc.delete(id, true)
    await clearSecrets(this.#d.layout.machine(id))
    return exit
  }

  async #stopSignal(id: string): Promise<string> {
    try {
      const spec = JSON.parse(await readFile(this.#d.layout.machine(id).spec, 'utf8')) as MachineSpec
      return spec.stopSignal || 'SIGTERM'
    } catch {
      return 'SIGTERM'
    }
  }

  async #running(id: string): Promise<void> {
    this.#known(id)
    const st = await this.#d.runc.state(id)
    if (st?.status !== 'running') throw new HangarError('invalid_state', `machine ${id} is ${st?.status ?? 'stopped'}, not running`)
  }

  async signal(id: string, signal: string): Promise<void> {
    const sig = normalizeSignal(signal)
    await this.#running(id)
    if (!(await this.#d.runc.kill(id, sig))) throw new HangarError('runtime_error', `runc kill ${sig} failed for machine ${id}`)
  }

  async freeze(id: string): Promise<void> {
    await this.#running(id)
    await this.#d.runc.pause(id)
  }

  async thaw(id: string): Promise<void> {
    this.#known(id)
    if ((await this.#d.runc.state(id))?.status !== 'paused') throw new HangarError('invalid_state', `machine ${id} is not frozen`)
    await this.#d.runc.resume(id)
  }

  async exec(id: string, opts: ExecOptions): Promise<ExecResult> {
    await this.#running(id)
    return runcExec(id, opts, { runcPath: this.#d.runc.path, runcRoot: this.#d.runc.root, dir: this.#d.layout.machine(id).dir })
  }

  async console(id: string, opts: ConsoleOptions): Promise<ConsoleSession> {
    await this.#running(id)
    return runcConsole(id, opts, { runcPath: this.#d.runc.path, runcRoot: this.#d.runc.root, dir: this.#d.layout.machine(id).dir })
  }

  logs(id: string, opts: LogOptions): AsyncIterable<LogLine> {
    this.#known(id)
    return readLogs(this.#d.layout.machine(id).log, opts)
  }

  async inspect(id: string): Promise<Inspection> {
    if (!existsSync(this.#d.layout.machine(id).config)) return { status: 'absent', pid: null, exit: null }
    const [st, exit] = await Promise.all([this.#d.runc.state(id), readExit(this.#d.layout, id)])
    if (st && st.status !== 'stopped') return { status: st.status, pid: st.pid || null, exit: null }
    // No process: "stopped" once it has run (an exit is recorded), else still just "created".
    return { status: st || exit ? 'stopped' : 'created', pid: null, exit }
  }

  async list(): Promise<string[]> {
    const names = await readdir(this.#d.layout.machinesDir).catch(() => [] as string[])
    // Every machine dir, even one without config.json: a create killed half-way has
    // a mount, a netns and an address to give back, and only teardown knows how.
    return names.filter(isMachineId).sort()
  }

  /** From each machine's spec.json and its l/ links: during a reconfigure the two can differ for a moment. */
  async layersInUse(): Promise<string[]> {
    const dirs = new Set<string>()
    for (const id of await this.list()) {
      const paths = this.#d.layout.machine(id)
      const spec = await readFile(paths.spec, 'utf8').then((t) => (JSON.parse(t) as MachineSpec).layers, () => [])
      for (const l of spec) dirs.add(resolve(l))
      for (const n of await readdir(paths.lowers).catch(() => [] as string[])) {
        const target = await readlink(join(paths.lowers, n)).catch(() => null)
        if (target !== null) dirs.add(resolve(paths.lowers, target))
      }
    }
    return [...dirs]
  }

  async destroy(id: string): Promise<void> {
    if (existsSync(this.#d.layout.machine(id).config) && this.#d.runc.has(id)) {
      await this.stop(id, { signal: 'SIGKILL', graceMs: 0 }).catch((e: unknown) => this.#d.logger.warn({ err: e, id }, 'stop before destroy failed'))
    }
    await this.#d.provisioner.teardown(id)
  }

  onExit(listener: ExitListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async close(): Promise<void> {
    this.#exits.close()
    this.#d.firewall.close()
    this.#listeners.clear()
    // The attach-socket dir under /run/hangar goes once no machine links into it.
    await rmdir(this.#d.layout.apiDir).catch(() => {})
    await rmdir(this.#d.layout.socketDir).catch(() => {})
  }
}
