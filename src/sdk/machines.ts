/** Machines: the Fly Machines API verbs, typed. */
import type { CheckpointView, RestoreResult, ExecOutput, LeaseView, MachineEventView, MachineView, WaitResult } from '../platform/index.ts'
import type { LogLine } from '../runtime/types.ts'
import type { Http } from './http.ts'
import { parseSse } from './sse.ts'
import { openConsole, type ConsoleRequest } from './console.ts'
import type { Duplex } from 'node:stream'
import { MachineFs } from './files.ts'

export interface CreateMachineRequest {
  config: { image: string; [k: string]: unknown }
  name?: string
  region?: string
  skip_launch?: boolean
  lease_ttl?: number
  /** Give the machine none of the app's secrets (default: those current now). */
  skip_secrets?: boolean
  /** Refused unless the app's secrets have reached this version (the one a secrets change answered). */
  min_secrets_version?: number
}

export interface ForkRequest {
  /** A checkpoint of the source ("v3"); default: its disk as it is now. */
  checkpoint?: string
  name?: string
  skip_launch?: boolean
}

export type StopOptions = { signal?: string | number; timeout?: string }
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

  list(app: string, opts: { state?: string[]; includeDeleted?: boolean; metadata?: Record<string, string> } = {}): Promise<MachineView[]> {
    const query: Record<string, string | boolean | undefined> = { state: opts.state?.join(','), include_deleted: opts.includeDeleted || undefined }
    for (const [k, v] of Object.entries(opts.metadata ?? {})) query[`metadata.${k}`] = v
    return this.#http.json('GET', this.#p(app), { query })
  }

  /** With `idempotencyKey`, a retried create returns the first machine instead of making a second. */
  create(app: string, req: CreateMachineRequest, opts: { idempotencyKey?: string } = {}): Promise<MachineView> {
    return this.#http.json('POST', this.#p(app), { body: req, ...(opts.idempotencyKey ? { headers: { 'idempotency-key': opts.idempotencyKey } } : {}) })
  }

  get(app: string, id: string): Promise<MachineView> {
    return this.#http.json('GET', this.#p(app, id))
  }

  update(app: string, id: string, req: CreateMachineRequest & { current_version?: string }, opts: Lease = {}): Promise<MachineView> {
    return this.#http.json('POST', this.#p(app, id), { body: req, ...opts })
  }

  destroy(app: string, id: string, opts: { force?: boolean } & Lease = {}): Promise<{ ok: true }> {
    return this.#http.json('DELETE', this.#p(app, id), { query: { force: opts.force || undefined }, ...(opts.nonce ? { nonce: opts.nonce } : {}) })
  }

  start(app: string, id: string, opts: Lease = {}): Promise<{ previous_state: string }> {
    return this.#http.json('POST', this.#p(app, id, 'start'), opts)
  }

  stop(app: string, id: string, opts: StopOptions & Lease = {}): Promise<{ ok: true }> {
    const { nonce, ...body } = opts
    return this.#http.json('POST', this.#p(app, id, 'stop'), { body, ...(nonce ? { nonce } : {}) })
  }

  restart(app: string, id: string, opts: StopOptions & Lease = {}): Promise<{ ok: true }> {
    const { nonce, ...body } = opts
    return this.#http.json('POST', this.#p(app, id, 'restart'), { body, ...(nonce ? { nonce } : {}) })
  }

  signal(app: string, id: string, signal: string | number, opts: Lease = {}): Promise<{ ok: true }> {
    return this.#http.json('POST', this.#p(app, id, 'signal'), { body: { signal }, ...opts })
  }

  suspend(app: string, id: string, opts: Lease = {}): Promise<{ ok: true }> {
    return this.#http.json('POST', this.#p(app, id, 'suspend'), opts)
  }

  /** Resolves when the machine reaches one of `state`; rejects with code wait_timeout after `timeout` seconds. */
  wait(app: string, id: string, opts: { state?: string[]; timeout?: number; instanceId?: string; signal?: AbortSignal } = {}): Promise<WaitResult> {
    return this.#http.json('GET', this.#p(app, id, 'wait'), { query: { state: opts.state, timeout: opts.timeout, instance_id: opts.instanceId }, ...(opts.signal ? { signal: opts.signal } : {}) })
  }

  /** Aborting `signal` ends the request, and the daemon then kills the command in the machine. */
  exec(app: string, id: string, req: { command?: string[]; cmd?: string; stdin?: string; timeout?: number; max_output_bytes?: number }, opts: Lease & { signal?: AbortSignal } = {}): Promise<ExecOutput> {
    return this.#http.json('POST', this.#p(app, id, 'exec'), { body: req, ...opts })
  }

  events(app: string, id: string, limit?: number): Promise<MachineEventView[]> {
    return this.#http.json('GET', this.#p(app, id, 'events'), { query: { limit } })
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
  checkpoint(app: string, id: string, req: { comment?: string } = {}, opts: Lease = {}): Promise<CheckpointView> {
    return this.#http.json('POST', this.#p(app, id, 'checkpoint'), { body: req, ...opts })
  }

  checkpoints(app: string, id: string): Promise<CheckpointView[]> {
    return this.#http.json('GET', this.#p(app, id, 'checkpoints'))
  }

  getCheckpoint(app: string, id: string, checkpoint: string): Promise<CheckpointView> {
    return this.#http.json('GET', this.#p(app, id, `checkpoints/${encodeURIComponent(checkpoint)}`))
  }

  deleteCheckpoint(app: string, id: string, checkpoint: string, opts: Lease = {}): Promise<{ ok: true }> {
    return this.#http.json('DELETE', this.#p(app, id, `checkpoints/${encodeURIComponent(checkpoint)}`), opts)
  }

  /** Puts the disk (and the volumes it still mounts) back as at the checkpoint: a running machine restarts on it, a stopped one stays stopped. */
  restore(app: string, id: string, checkpoint: string, opts: Lease = {}): Promise<RestoreResult> {
    return this.#http.json('POST', this.#p(app, id, `checkpoints/${encodeURIComponent(checkpoint)}/restore`), opts)
  }

  /** New machines with this one's config whose disks start as the checkpoint's (or its disk now); a list with `count`. */
  fork(app: string, id: string, req: ForkRequest & { count: number }, opts?: Lease): Promise<MachineView[]>
  fork(app: string, id: string, req?: ForkRequest, opts?: Lease): Promise<MachineView>
  fork(app: string, id: string, req: ForkRequest & { count?: number } = {}, opts: Lease = {}): Promise<MachineView | MachineView[]> {
    return this.#http.json('POST', this.#p(app, id, 'fork'), { body: req, ...opts })
  }
}
