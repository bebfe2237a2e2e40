/**
 * What the MCP tools need from Hangar, as one small interface over the
 * platform: the adapter only renames, every rule stays in the platform.
 * `hangar mcp` (stdio) relays to the daemon's server (relay.ts), so there is
 * one server and one backend.
 */
import { HangarError } from '../../errors.ts'
import { Readable } from 'node:stream'
import type { Action, Caveat } from '../../auth/index.ts'
import type { AppView, Caller, BuildBaseInput, BuildProgress, CheckpointView, ExecOutput, ListView, MachineEventView, MachineView, Platform, PullProgress, SecretView, VolumeSnapshotView, VolumeView, WaitResult } from '../../platform/index.ts'
import type { ImageRecord } from '../../images/types.ts'
import type { LogLine } from '../../runtime/types.ts'

export interface CreateMachine {
  config: { image: string; [k: string]: unknown }
  name?: string
}

export interface ExecRequest {
  command?: string[]
  cmd?: string
  stdin?: string
  timeout: number
  max_output_bytes: number
}

/** What token_create asks for: the restrictions POST /v1/tokens takes. */
export interface TokenRequest {
  apps?: string[]
  machines?: string[]
  actions?: Action[]
  expires_in?: number | string
  description?: string
}

export interface Backend {
  /** Tokens minted by the session's own token: never wider than it. */
  tokens: {
    create(req: TokenRequest): Promise<{ id: string; token: string; caveats: Caveat[] }>
  }
  apps: {
    list(): Promise<AppView[]>
    get(name: string): Promise<AppView>
    create(name: string, opts?: { idempotencyKey?: string }): Promise<AppView>
    destroy(name: string, opts: { force: boolean }): Promise<void>
  }
  machines: {
    list(app: string): Promise<MachineView[]>
    get(app: string, id: string): Promise<MachineView>
    create(app: string, req: CreateMachine, opts?: { idempotencyKey?: string }): Promise<MachineView>
    update(app: string, id: string, req: CreateMachine): Promise<MachineView>
    start(app: string, id: string): Promise<{ previous_state: string }>
    stop(app: string, id: string, opts: { signal?: string; timeout?: string }): Promise<unknown>
    restart(app: string, id: string): Promise<unknown>
    destroy(app: string, id: string, opts: { force: boolean }): Promise<unknown>
    /** Resolves at one of `states`; rejects with wait_timeout after `timeout` seconds. */
    wait(app: string, id: string, states: string[], timeout: number, signal?: AbortSignal): Promise<WaitResult>
    /** `signal` aborts when the call is cancelled: the command is killed in the machine. */
    exec(app: string, id: string, req: ExecRequest, signal?: AbortSignal): Promise<ExecOutput>
    /** The last `tail` lines, oldest first. */
    logs(app: string, id: string, tail: number): Promise<LogLine[]>
    events(app: string, id: string, limit: number): Promise<MachineEventView[]>
  }
  checkpoints: {
    create(app: string, id: string, comment: string | undefined): Promise<CheckpointView>
    list(app: string, id: string): Promise<CheckpointView[]>
    delete(app: string, id: string, checkpoint: string): Promise<unknown>
    restore(app: string, id: string, checkpoint: string): Promise<{ state: string }>
    fork(app: string, id: string, req: { checkpoint?: string; count: number; skip_launch?: boolean }): Promise<MachineView[]>
  }
  volumes: {
    create(app: string, req: { name: string; size_gb?: number | undefined; snapshot_id?: string | undefined; source_volume_id?: string | undefined }): Promise<VolumeView>
    list(app: string): Promise<VolumeView[]>
    extend(app: string, id: string, sizeGb: number): Promise<VolumeView>
    snapshot(app: string, id: string): Promise<VolumeSnapshotView>
    destroy(app: string, id: string): Promise<VolumeView>
  }
  /** App secrets, write-only: answers carry names and digests, never a value. */
  secrets: {
    list(app: string): Promise<{ secrets: SecretView[]; version: number }>
    /** Sets (string) and unsets (null) in one new version; answers every secret after it. */
    update(app: string, values: Record<string, string | null>): Promise<{ secrets: SecretView[]; version: number }>
  }
  /** Files in a machine, running or stopped; paths absolute or relative to /. */
  files: {
    /** At most `maxBytes` of the file, and its whole size. */
    read(app: string, id: string, path: string, maxBytes: number): Promise<{ data: Buffer; size: number }>
    write(app: string, id: string, path: string, data: Buffer, opts: { mode?: string; mkdirParents?: boolean }): Promise<{ path: string; size: number; mode: string }>
    list(app: string, id: string, path: string, opts: { recursive?: boolean; limit?: number; pattern?: string }): Promise<ListView>
    delete(app: string, id: string, path: string, recursive: boolean): Promise<{ deleted: string[]; count: number }>
    rename(app: string, id: string, source: string, dest: string): Promise<{ source: string; dest: string }>
  }
  images: {
    list(): Promise<ImageRecord[]>
    get(ref: string): Promise<ImageRecord>
    /** Imports an archive from a path on the host this MCP server runs on. */
    importFile(path: string, opts: { tag?: string }): Promise<ImageRecord[]>
    /** Builds the Debian base image (returns it at once when it exists, unless force). */
    buildBase(opts: BuildBaseInput, onProgress: (p: BuildProgress) => void): Promise<ImageRecord>
    /** Pulls `ref` from the registry it names, anonymously, and tags it locally; `signal` stops the pull (nothing is tagged). */
    pull(ref: string, onProgress: (p: PullProgress) => void, signal?: AbortSignal): Promise<ImageRecord>
  }
}

/** The daemon's own backend for one caller (the session's token): direct calls; the platform dedupes retried creates. */
export function platformBackend(platform: Platform, caller: Caller): Backend {
  const pm = platform.machines
  return {
    tokens: {
      create: async (req) => {
        const { id, token, caveats } = platform.tokens.create(caller, req)
        return { id, token, caveats }
      },
    },
    apps: {
      list: async () => platform.apps.list().apps,
      get: async (name) => platform.apps.get(name),
      create: async (name, o = {}) => platform.apps.create({ app_name: name }, o),
      destroy: (name, o) => platform.apps.destroy(name, o),
    },
    machines: {
      list: async (app) => pm.list(app),
      get: async (app, id) => pm.get(app, id),
      create: (app, req, o = {}) => pm.create(app, req, o),
      update: (app, id, req) => pm.update(app, id, req),
      start: (app, id) => pm.start(app, id),
      stop: (app, id, o) => pm.stop(app, id, o),
      restart: (app, id) => pm.restart(app, id),
      destroy: (app, id, o) => pm.destroy(app, id, o),
      wait: (app, id, state, timeout, signal) => pm.wait(app, id, { state, timeout }, signal),
      exec: (app, id, req, signal) => pm.exec(app, id, req, {}, signal ? { signal } : {}),
      logs: async (app, id, tail) => {
        const lines: LogLine[] = []
        for await (const l of pm.logs(app, id, { tail })) lines.push(l)
        return lines
      },
      events: async (app, id, limit) => pm.events(app, id, limit),
    },
    checkpoints: {
      create: (app, id, comment) => platform.checkpoints.create(app, id, comment === undefined ? {} : { comment }),
      list: async (app, id) => platform.checkpoints.list(app, id),
      delete: (app, id, cp) => platform.checkpoints.delete(app, id, cp),
      restore: (app, id, cp) => platform.checkpoints.restore(app, id, cp),
      fork: async (app, id, req) => [await platform.checkpoints.fork(app, id, req)].flat(),
    },
    volumes: {
      create: (app, req) => platform.volumes.create(app, req),
      list: (app) => platform.volumes.list(app),
      extend: async (app, id, size) => (await platform.volumes.extend(app, id, { size_gb: size })).volume,
      snapshot: (app, id) => platform.volumes.snapshot(app, id),
      destroy: (app, id) => platform.volumes.destroy(app, id),
    },
    secrets: {
      list: async (app) => platform.secrets.list(app),
      update: async (app, values) => platform.secrets.update(app, { values }),
    },
    files: {
      read: async (app, id, path, maxBytes) => {
        const r = await platform.files.read(app, id, { path })
        return { data: await head(r.stream, maxBytes), size: r.size }
      },
      write: (app, id, path, data, o) => platform.files.write(app, id, { path, ...o }, Readable.from([data])),
      list: (app, id, path, o) => platform.files.list(app, id, { path, ...o }),
      delete: (app, id, path, recursive) => platform.files.delete(app, id, { path, recursive }),
      rename: (app, id, source, dest) => platform.files.rename(app, id, { source, dest }),
    },
    images: {
      list: () => platform.images.list(),
      get: (ref) => platform.images.resolve(ref),
      // Over /mcp any token holder would name a file on the daemon host, read as root:
      // refuse, and point at the paths that upload the archive instead.
      importFile: async () => {
        throw new HangarError('invalid_argument', 'image_import over HTTP cannot read files on the daemon host', {
          hint: 'use `hangar mcp` (stdio uploads the local file), `hangar image import FILE`, or POST /v1/images/import with the archive as the body',
        })
      },
      buildBase: (o, onProgress) => platform.images.buildBase(o, onProgress),
      pull: (ref, onProgress, signal) => platform.images.pull({ ref }, onProgress, signal),
    },
  }
}

/** The first `max` bytes of a stream, which is then closed (its reader in the machine stops). */
async function head(stream: Readable, max: number): Promise<Buffer> {
  const parts: Buffer[] = []
  let got = 0
  for await (const chunk of stream) {
    const c = chunk as Buffer
    parts.push(got + c.length > max ? c.subarray(0, max - got) : c)
    got = Math.min(max, got + c.length)
    if (got >= max) break
  }
  stream.destroy()
  return Buffer.concat(parts)
}
