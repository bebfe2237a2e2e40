/** Machines: the Fly Machines API verbs, typed. */
import type { ExecOutput, LeaseView, MachineEventView, MachineView, WaitResult } from '../platform/index.ts'
import type { LogLine } from '../runtime/types.ts'
import type { Http } from './http.ts'
import { parseSse } from './sse.ts'
import { openConsole, type ConsoleRequest } from './console.ts'
import type { Duplex } from 'node:stream'
import { MachineFs } from './files.ts'
import {
  checkpointCreate, checkpointDelete, checkpointGet, checkpointList, checkpointRestore, machineCreate, machineDestroy, machineEvents, machineExec, machineFork, machineGet,
  machineList, machineRestart, machineSignal, machineStart, machineStop, machineSuspend, machineUpdate, machineVersions, machineWait, type OpInput,
} from '../ops/index.ts'

/** A machine's config (image, env, services, guest, mounts…), name, region, skip_launch, lease_ttl: Fly's shape. */
export type CreateMachineRequest = OpInput<typeof machineCreate>

/** A checkpoint of the source ("v3", default: its disk as it is now), a name, skip_launch. */
export type ForkRequest = Omit<OpInput<typeof machineFork>, 'count'>

/** The stop signal (a name or number) and the grace period before SIGKILL ("30s", or seconds). */
export type StopOptions = OpInput<typeof machineStop>
type Lease = { nonce?: string }

export class Machines {
  readonly #http: Http
  /** Files in a machine, running or stopped. */
  readonly fs: MachineFs

  constructor(http: Http) {
    this.#http = http
    this.fs = new MachineFs(http)
  }

  #p(app: string, id?: string, verb?: string): string {
    return `/v1/apps/${encodeURIComponent(app)}/machines${id ? `/${encodeURIComponent(id)}` : ''}${verb ? `/${verb}` : ''}`
  }

  list(app: string, opts: { state?: string[]; includeDeleted?: boolean; metadata?: Record<string, string> } = {}) {
    const query: Record<string, string | string[] | boolean> = { ...(opts.state ? { state: opts.state } : {}), ...(opts.includeDeleted ? { include_deleted: true } : {}) }
    for (const [k, v] of Object.entries(opts.metadata ?? {})) query[`metadata.${k}`] = v
    return this.#http.call(machineList, { app }, query)
  }

  /** With `idempotencyKey`, a retried create returns the first machine instead of making a second. */
  create(app: string, req: CreateMachineRequest, opts: { idempotencyKey?: string } = {}) {
    return this.#http.call(machineCreate, { app }, req, opts.idempotencyKey ? { headers: { 'idempotency-key': opts.idempotencyKey } } : {})
  }

  get(app: string, id: string, opts: { includeLease?: boolean } = {}) {
    return this.#http.call(machineGet, { app, id }, opts.includeLease ? { include_leases: true } : {})
  }

  update(app: string, id: string, req: OpInput<typeof machineUpdate>, opts: Lease = {}) {
    return this.#http.call(machineUpdate, { app, id }, req, opts)
  }

  destroy(app: string, id: string, opts: { force?: boolean } & Lease = {}) {
    const { nonce, force } = opts
    return this.#http.call(machineDestroy, { app, id }, force ? { force: true } : {}, { nonce })
  }

  start(app: string, id: string, opts: Lease = {}) {
    return this.#http.call(machineStart, { app, id }, undefined, opts)
  }

  stop(app: string, id: string, opts: StopOptions & Lease = {}) {
    const { nonce, ...body } = opts
    return this.#http.call(machineStop, { app, id }, body, { nonce })
  }

  restart(app: string, id: string, opts: StopOptions & Lease = {}) {
    const { nonce, ...body } = opts
    return this.#http.call(machineRestart, { app, id }, body, { nonce })
  }

  signal(app: string, id: string, signal: OpInput<typeof machineSignal>['signal'], opts: Lease = {}) {
    return this.#http.call(machineSignal, { app, id }, { signal }, opts)
  }

  suspend(app: string, id: string, opts: Lease = {}) {
    return this.#http.call(machineSuspend, { app, id }, undefined, opts)
  }

  versions(app: string, id: string) {
    return this.#http.call(machineVersions, { app, id })
  }

  /** Resolves when the machine reaches one of `state`; rejects with code wait_timeout after `timeout` seconds. */
  wait(app: string, id: string, opts: { state?: string[]; timeout?: number; instanceId?: string; signal?: AbortSignal } = {}) {
    const { signal, instanceId, ...q } = opts
    return this.#http.call(machineWait, { app, id }, { ...q, ...(instanceId ? { instance_id: instanceId } : {}) } as OpInput<typeof machineWait>, { signal })
  }

  /** Aborting `signal` ends the request, and the daemon then kills the command in the machine. */
  exec(app: string, id: string, req: OpInput<typeof machineExec>, opts: Lease & { signal?: AbortSignal } = {}) {
    return this.#http.call(machineExec, { app, id }, req, opts)
  }

  events(app: string, id: string, limit?: number) {
    return this.#http.call(machineEvents, { app, id }, limit === undefined ? {} : { limit })
  }

  async logs(app: string, id: string, opts: { tail?: number } = {}): Promise<LogLine[]> {
    return (await this.#http.json<{ lines: LogLine[] }>('GET', this.#p(app, id, 'logs'), { query: { tail: opts.tail } })).lines
  }

  /** Streams log lines as they are written, until `signal` aborts. */
  async *followLogs(app: string, id: string, opts: { tail?: number; signal?: AbortSignal } = {}): AsyncIterable<LogLine> {
    const res = await this.#http.fetch('GET', this.#p(app, id, 'logs'), { query: { tail: opts.tail, follow: true }, ...(opts.signal ? { signal: opts.signal } : {}) })
    for await (const ev of parseSse(res)) if (ev.event === 'log') yield JSON.parse(ev.data) as LogLine
  }

  /** An interactive terminal (default /bin/sh): a raw byte stream; the terminal echoes what you write. */
  console(app: string, id: string, req: ConsoleRequest = {}): Promise<Duplex> {
    return openConsole(this.#http.url(this.#p(app, id, 'console')), this.#http.token, req)
  }

  async acquireLease(app: string, id: string, opts: { ttl?: number; description?: string } & Lease = {}): Promise<LeaseView> {
    const { nonce, ...body } = opts
    return (await this.#http.json<{ data: LeaseView }>('POST', this.#p(app, id, 'lease'), { body, ...(nonce ? { nonce } : {}) })).data
  }

  releaseLease(app: string, id: string, nonce: string): Promise<unknown> {
    return this.#http.json('DELETE', this.#p(app, id, 'lease'), { nonce })
  }

  metadata(app: string, id: string): Promise<Record<string, string>> {
    return this.#http.json('GET', this.#p(app, id, 'metadata'))
  }

  setMetadata(app: string, id: string, values: Record<string, string | null>): Promise<void> {
    return this.#http.json('PATCH', this.#p(app, id, 'metadata'), { body: { metadata: values } })
  }

  /** Freezes the machine's disk as a checkpoint ("v1", "v2"…); a running machine pauses for the instant of capture. */
  checkpoint(app: string, id: string, req: OpInput<typeof checkpointCreate> = {}, opts: Lease = {}) {
    return this.#http.call(checkpointCreate, { app, id }, req, opts)
  }

  checkpoints(app: string, id: string) {
    return this.#http.call(checkpointList, { app, id })
  }

  getCheckpoint(app: string, id: string, checkpoint: string) {
    return this.#http.call(checkpointGet, { app, id, cp: checkpoint })
  }

  deleteCheckpoint(app: string, id: string, checkpoint: string, opts: Lease = {}) {
    return this.#http.call(checkpointDelete, { app, id, cp: checkpoint }, undefined, opts)
  }

  /** Puts the disk (and the volumes it still mounts) back as at the checkpoint: a running machine restarts on it, a stopped one stays stopped. */
  restore(app: string, id: string, checkpoint: string, opts: Lease = {}) {
    return this.#http.call(checkpointRestore, { app, id, cp: checkpoint }, undefined, opts)
  }

  /** New machines with this one's config whose disks start as the checkpoint's (or its disk now); a list with `count`. */
  fork(app: string, id: string, req: ForkRequest & { count: number }, opts?: Lease): Promise<MachineView[]>
  fork(app: string, id: string, req?: ForkRequest, opts?: Lease): Promise<MachineView>
  fork(app: string, id: string, req: OpInput<typeof machineFork> = {}, opts: Lease = {}): Promise<MachineView | MachineView[]> {
    return this.#http.call(machineFork, { app, id }, req, opts)
  }
}
