/**
 * The typed TypeScript client for a Hangar daemon; the CLI is built on it.
 *   const hangar = new Hangar({ baseUrl: 'http://127.0.0.1:4280', token })
 *   const m = await hangar.machines.create('myapp', { config: { image: 'busybox' } })
 *   await hangar.machines.wait('myapp', m.id, { state: ['started'] })
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type {
  AppView, BuildBaseInput, BuildProgress, ExecOutput, LeaseView, MachineEventView, MachineView, PullProgress, PushProgress, PushResult, SecretView, VolumeSnapshotView, VolumeView,
  WaitResult,
} from '../platform/index.ts'
import type { GcResult, ImageRecord } from '../images/types.ts'
import type { LogLine } from '../runtime/types.ts'
import { HangarError, codes, isHangarError, type Code } from '../errors.ts'
import { Http, type ClientOptions } from './http.ts'
import { appCreate, appDestroy, appGet, appList, appPolicyGet, appPolicySet } from '../ops/index.ts'
import { Machines } from './machines.ts'
import { Volumes } from './volumes.ts'
import { Tokens } from './tokens.ts'
import { Tokenizer } from './tokenizer.ts'
import { Secrets } from './secrets.ts'
import { parseSse } from './sse.ts'

export { HangarError, isHangarError }
export { actions, attenuate, inspect } from './tokens.ts'
export type { Action, Caveat, CreateTokenRequest, Restrictions, TokenInfo } from './tokens.ts'
export type { SealInput, TokenizerInfo } from './tokenizer.ts'
export type { CreateMachineRequest, StopOptions } from './machines.ts'
export type { CreateVolumeRequest } from './volumes.ts'
export type Volume = VolumeView
/** An app secret as listed: name, digest and times, never the value. */
export type Secret = SecretView
export type VolumeSnapshot = VolumeSnapshotView
export type { At, FileEntry, FileList, MachineFs } from './files.ts'
export type { ClientOptions }
export type Machine = MachineView
export type App = AppView
export type Image = ImageRecord
export type ImageGcResult = GcResult
export type { PullProgress, PushProgress, PushResult }
export type { BuildBaseInput, BuildProgress, ExecOutput, LeaseView, MachineEventView, WaitResult, LogLine }

/**
 * One egress rule; first match wins. `cidr` judges destinations; `domain` (`example.com`, `*.example.com`, `*`)
 * judges DNS names, and an allowed name's addresses are reachable ahead of the CIDR rules.
 */
export type NetworkRule = { cidr: string; action: 'allow' | 'deny' } | { domain: string; action: 'allow' | 'deny' }

export interface NetworkPolicy {
  rules: NetworkRule[]
  updated_at: string | null
}

export class Hangar {
  readonly machines: Machines
  /** Volumes of an app: sized filesystems that outlive machines (config.mounts). */
  readonly volumes: Volumes
  /** Mint, list and revoke tokens; `attenuate` and `inspect` (exported beside Hangar) work offline. */
  readonly tokens: Tokens
  /** Seal credentials for the tokenizer, so robots hold placeholders; its seal key and address. */
  readonly tokenizer: Tokenizer
  /** App secrets, write-only: machines get them as env vars (and config.files) when created or updated. */
  readonly secrets: Secrets
  readonly apps: {
    list(org?: string): Promise<{ total_apps: number; apps: App[] }>
    /** With `idempotencyKey`, a retry returns the first result instead of failing with name_taken. */
    create(name: string, org?: string, opts?: { idempotencyKey?: string }): Promise<App>
    get(name: string): Promise<App>
    destroy(name: string, opts?: { force?: boolean }): Promise<void>
    /** The app's egress rules (empty: the defaults). */
    networkPolicy(name: string): Promise<NetworkPolicy>
    /**
     * Replaces the app's egress rules; first match wins, then the defaults.
     *   await hangar.apps.setNetworkPolicy('myapp', [{ cidr: '10.0.5.0/24', action: 'allow' }])
     */
    setNetworkPolicy(name: string, rules: NetworkRule[]): Promise<NetworkPolicy>
  }
  readonly images: {
    list(): Promise<Image[]>
    get(ref: string): Promise<Image>
    /** Uploads an OCI archive or docker-save tarball. */
    import(archive: Blob | ReadableStream<Uint8Array>, opts?: { tag?: string }): Promise<Image[]>
    /** Removes a tag; the image's blobs and layers stay until gc. */
    remove(ref: string): Promise<void>
    /**
     * Deletes blobs and unpacked layers no tag and no machine uses.
     *   const { bytesFreed } = await hangar.images.gc()
     */
    gc(): Promise<ImageGcResult>
    /**
     * Builds the Debian base image on the daemon (a minute or so; at once when it exists, unless force).
     *   await hangar.images.buildBase({}, (p) => console.error(p.phase, p.percent ?? '', p.message))
     */
    buildBase(opts?: BuildBaseInput, onProgress?: (p: BuildProgress) => void): Promise<Image>
    /**
     * The daemon pulls `ref` (which names its registry) into its store; aborting `signal` ends the
     * request, and with it the daemon's pull (nothing is tagged).
     *   await hangar.images.pull('127.0.0.1:4280/robots/busybox:1', { credentials: { username: 'x', password: token } })
     */
    pull(ref: string, opts?: { credentials?: RegistryCredentials; onProgress?: (p: PullProgress) => void; signal?: AbortSignal }): Promise<Image>
    /** The daemon pushes its image `ref` to `dest` (default `ref`), a reference naming a registry. */
    push(ref: string, dest?: string, opts?: { credentials?: RegistryCredentials; onProgress?: (p: PushProgress) => void }): Promise<PushResult>
  }

  /** Where the daemon is, and the token this client sends (for a relay that speaks to it directly). */
  readonly baseUrl: string
  readonly token: string

  constructor(opts: ClientOptions) {
    this.baseUrl = opts.baseUrl
    this.token = opts.token
    const http = new Http(opts)
    this.machines = new Machines(http)
    this.volumes = new Volumes(http)
    this.tokens = new Tokens(http)
    this.tokenizer = new Tokenizer(http)
    this.secrets = new Secrets(http)
    this.apps = {
      list: (org) => http.call(appList, {}, org === undefined ? {} : { org_slug: org }),
      create: (name, org = 'personal', o = {}) =>
        http.call(appCreate, {}, { app_name: name, org_slug: org }, o.idempotencyKey ? { headers: { 'idempotency-key': o.idempotencyKey } } : {}),
      get: (name) => http.call(appGet, { app: name }),
      destroy: (name, o = {}) => http.call(appDestroy, { app: name }, o.force ? { force: true } : {}),
      networkPolicy: (name) => http.call(appPolicyGet, { app: name }),
      setNetworkPolicy: (name, rules) => http.call(appPolicySet, { app: name }, { rules }),
    }
    const img = (ref: string): string => `/v1/images/${encodeURIComponent(ref)}`
    this.images = {
      list: () => http.json('GET', '/v1/images'),
      get: (ref) => http.json('GET', img(ref)),
      import: (archive, o = {}) => http.json('POST', '/v1/images/import', { raw: archive as BodyInit, query: { tag: o.tag } }),
      remove: async (ref) => void (await http.json('DELETE', img(ref))),
      gc: () => http.json('POST', '/v1/images/gc'),
      buildBase: (o = {}, onProgress) => streamed(http, '/v1/images/build-base', o, onProgress),
      pull: (ref, o = {}) => streamed(http, '/v1/images/pull', { ref, ...(o.credentials ? { credentials: o.credentials } : {}) }, o.onProgress, o.signal),
      push: (ref, dest, o = {}) =>
        streamed(http, '/v1/images/push', { ref, ...(dest ? { dest } : {}), ...(o.credentials ? { credentials: o.credentials } : {}) }, o.onProgress),
    }
  }

  /**
   * A client from HANGAR_API_URL and HANGAR_TOKEN, falling back to the local
   * daemon's files under HANGAR_DATA_DIR (default /var/lib/hangar).
   */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): Hangar {
    const dataDir = env.HANGAR_DATA_DIR ?? '/var/lib/hangar'
    const read = (f: string): string | null => {
      try {
        return readFileSync(join(dataDir, f), 'utf8').trim()
      } catch {
        return null
      }
    }
    const baseUrl = env.HANGAR_API_URL ?? (read('daemon.json') ? JSON.parse(read('daemon.json') as string).url : 'http://127.0.0.1:4280')
    const token = env.HANGAR_TOKEN ?? read('root-token')
    if (!token) {
      throw new HangarError('unauthenticated', `no API token: HANGAR_TOKEN is unset and ${join(dataDir, 'root-token')} is not readable`, {
        hint: 'export HANGAR_TOKEN=<token>, or run as root on the daemon host',
      })
    }
    return new Hangar({ baseUrl, token })
  }
}

export interface RegistryCredentials {
  username: string
  password: string
}

/** Always over Server-Sent Events: a build or pull outlasts fetch's header timeout, and events keep the connection busy. */
async function streamed<T, P>(http: Http, path: string, body: unknown, onProgress?: (p: P) => void, signal?: AbortSignal): Promise<T> {
  const res = await http.fetch('POST', path, { body, headers: { accept: 'text/event-stream' }, ...(signal ? { signal } : {}) })
  for await (const ev of parseSse(res)) {
    if (ev.event === 'progress') onProgress?.(JSON.parse(ev.data) as P)
    else if (ev.event === 'done') return JSON.parse(ev.data) as T
    else if (ev.event === 'error') {
      const e = JSON.parse(ev.data) as { code: Code; message: string; hint?: string; details?: Record<string, unknown> }
      throw new HangarError(e.code in codes ? e.code : 'internal', e.message, { ...(e.hint ? { hint: e.hint } : {}), ...(e.details ? { details: e.details } : {}) })
    }
  }
  throw new HangarError('unavailable', `the daemon closed the ${path} stream before it finished`, { hint: 'see the daemon log, then try again' })
}
