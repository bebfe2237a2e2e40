/**
 * Files in a machine, running or stopped (Sprites' filesystem API under a Fly machine).
 *   const text = await hangar.machines.fs.readText('myapp', id, '/etc/hostname')
 *   await hangar.machines.fs.write('myapp', id, '/srv/app.py', source, { mode: '0755', mkdirParents: true })
 *   const { entries, truncated } = await hangar.machines.fs.list('myapp', id, '/srv', { recursive: true })
 */
import { fsChmod, fsChown, fsCopy, fsDelete, fsList, fsRead, fsRename, fsTarDown, fsTarUp, fsWrite } from '../ops/index.ts'
import type { Http } from './http.ts'

export type { FileEntryView as FileEntry, ListView as FileList } from '../ops/index.ts'

/** Where a path is: relative paths resolve against workingDir (default /). */
export interface At {
  workingDir?: string
}
type Mode = string | number
type Body = string | Uint8Array | Blob | ReadableStream<Uint8Array>

export class MachineFs {
  readonly #http: Http

  constructor(http: Http) {
    this.#http = http
  }

  /** The file as a byte stream, of any size. */
  async readStream(app: string, id: string, path: string, opts: At & { signal?: AbortSignal } = {}): Promise<ReadableStream<Uint8Array>> {
    return (await this.readResponse(app, id, path, opts)).body as ReadableStream<Uint8Array>
  }

  /** The raw response: its body streams the bytes, `x-file-size` and `x-file-mode` say what the file was at open. */
  readResponse(app: string, id: string, path: string, opts: At & { signal?: AbortSignal } = {}): Promise<Response> {
    const { signal, ...at } = opts
    return this.#http.callRaw(fsRead, { app, id }, { path, ...at }, { signal })
  }

  async read(app: string, id: string, path: string, opts: At = {}): Promise<Uint8Array> {
    return new Uint8Array(await (await this.readResponse(app, id, path, opts)).arrayBuffer())
  }

  async readText(app: string, id: string, path: string, opts: At = {}): Promise<string> {
    return new TextDecoder().decode(await this.read(app, id, path, opts))
  }

  /** Atomic (temp file + rename). A path ending in "/" makes a directory. */
  write(app: string, id: string, path: string, data: Body, opts: At & { mode?: Mode; mkdirParents?: boolean } = {}) {
    const mode = typeof opts.mode === 'number' ? opts.mode.toString(8) : opts.mode
    return this.#http.call(fsWrite, { app, id }, { ...opts, path, mode }, { raw: (typeof data === 'string' ? new TextEncoder().encode(data) : data) as BodyInit })
  }

  /** At most `limit` entries (default 1000); `truncated` says there were more. */
  list(app: string, id: string, path: string, opts: At & { recursive?: boolean; pattern?: string; limit?: number } = {}) {
    return this.#http.call(fsList, { app, id }, { path, ...opts })
  }

  delete(app: string, id: string, path: string, opts: At & { recursive?: boolean } = {}) {
    return this.#http.call(fsDelete, { app, id }, { path, ...opts })
  }

  rename(app: string, id: string, source: string, dest: string, opts: At = {}) {
    return this.#http.call(fsRename, { app, id }, { source, dest, ...opts })
  }

  copy(app: string, id: string, source: string, dest: string, opts: At & { recursive?: boolean; preserveAttrs?: boolean } = {}) {
    return this.#http.call(fsCopy, { app, id }, { source, dest, ...opts })
  }

  chmod(app: string, id: string, path: string, mode: Mode, opts: At & { recursive?: boolean } = {}) {
    return this.#http.call(fsChmod, { app, id }, { path, mode, ...opts })
  }

  /** Ids as the machine numbers them. */
  chown(app: string, id: string, path: string, owner: { uid?: number; gid?: number }, opts: At & { recursive?: boolean } = {}) {
    return this.#http.call(fsChown, { app, id }, { path, ...owner, ...opts })
  }

  /** The directory as a tar stream. */
  async tarDown(app: string, id: string, path: string, opts: At & { signal?: AbortSignal } = {}): Promise<ReadableStream<Uint8Array>> {
    const { signal, ...at } = opts
    return (await this.#http.callRaw(fsTarDown, { app, id }, { path, ...at }, { signal })).body as ReadableStream<Uint8Array>
  }

  /** Unpacks a tar archive into the directory (made first with mkdirParents). */
  tarUp(app: string, id: string, path: string, archive: Body, opts: At & { mkdirParents?: boolean } = {}) {
    return this.#http.call(fsTarUp, { app, id }, { path, ...opts }, { raw: archive as BodyInit })
  }
}
