/**
 * Files in a machine, running or stopped (Sprites' filesystem API under a Fly machine).
 *   const text = await hangar.machines.fs.readText('myapp', id, '/etc/hostname')
 *   await hangar.machines.fs.write('myapp', id, '/srv/app.py', source, { mode: '0755', mkdirParents: true })
 *   const { entries, truncated } = await hangar.machines.fs.list('myapp', id, '/srv', { recursive: true })
 */
import type { ListView } from '../platform/index.ts'
import type { Http } from './http.ts'

export type { FileEntryView as FileEntry, ListView as FileList } from '../platform/index.ts'

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

  #p(app: string, id: string, op: string): string {
    return `/v1/apps/${encodeURIComponent(app)}/machines/${encodeURIComponent(id)}/fs/${op}`
  }

  /** The file as a byte stream, of any size. */
  async readStream(app: string, id: string, path: string, opts: At & { signal?: AbortSignal } = {}): Promise<ReadableStream<Uint8Array>> {
    const res = await this.#http.fetch('GET', this.#p(app, id, 'read'), { query: { path, workingDir: opts.workingDir }, ...(opts.signal ? { signal: opts.signal } : {}) })
    return res.body as ReadableStream<Uint8Array>
  }

  /** The raw response: its body streams the bytes, `x-file-size` and `x-file-mode` say what the file was at open. */
  readResponse(app: string, id: string, path: string, opts: At & { signal?: AbortSignal } = {}): Promise<Response> {
    return this.#http.fetch('GET', this.#p(app, id, 'read'), { query: { path, workingDir: opts.workingDir }, ...(opts.signal ? { signal: opts.signal } : {}) })
  }

  async read(app: string, id: string, path: string, opts: At = {}): Promise<Uint8Array> {
    const res = await this.#http.fetch('GET', this.#p(app, id, 'read'), { query: { path, workingDir: opts.workingDir } })
    return new Uint8Array(await res.arrayBuffer())
  }

  async readText(app: string, id: string, path: string, opts: At = {}): Promise<string> {
    return new TextDecoder().decode(await this.read(app, id, path, opts))
  }

  /** Atomic (temp file + rename). A path ending in "/" makes a directory. */
  write(app: string, id: string, path: string, data: Body, opts: At & { mode?: Mode; mkdirParents?: boolean } = {}): Promise<{ path: string; size: number; mode: string }> {
    return this.#http.json('PUT', this.#p(app, id, 'write'), {
      raw: (typeof data === 'string' ? new TextEncoder().encode(data) : data) as BodyInit,
      query: { path, workingDir: opts.workingDir, mode: opts.mode === undefined ? undefined : typeof opts.mode === 'number' ? opts.mode.toString(8) : opts.mode, mkdirParents: opts.mkdirParents },
    })
  }

  /** At most `limit` entries (default 1000); `truncated` says there were more. */
  list(app: string, id: string, path: string, opts: At & { recursive?: boolean; pattern?: string; limit?: number } = {}): Promise<ListView> {
    return this.#http.json('GET', this.#p(app, id, 'list'), { query: { path, workingDir: opts.workingDir, recursive: opts.recursive, pattern: opts.pattern, limit: opts.limit } })
  }

  delete(app: string, id: string, path: string, opts: At & { recursive?: boolean } = {}): Promise<{ deleted: string[]; count: number }> {
    return this.#http.json('DELETE', this.#p(app, id, 'delete'), { query: { path, workingDir: opts.workingDir, recursive: opts.recursive } })
  }

  rename(app: string, id: string, source: string, dest: string, opts: At = {}): Promise<{ source: string; dest: string }> {
    return this.#http.json('POST', this.#p(app, id, 'rename'), { body: { source, dest, ...opts } })
  }

  copy(app: string, id: string, source: string, dest: string, opts: At & { recursive?: boolean; preserveAttrs?: boolean } = {}): Promise<{ source: string; dest: string }> {
    return this.#http.json('POST', this.#p(app, id, 'copy'), { body: { source, dest, ...opts } })
  }

  chmod(app: string, id: string, path: string, mode: Mode, opts: At & { recursive?: boolean } = {}): Promise<{ path: string; mode: string }> {
    return this.#http.json('POST', this.#p(app, id, 'chmod'), { body: { path, mode, ...opts } })
  }

  /** Ids as the machine numbers them. */
  chown(app: string, id: string, path: string, owner: { uid?: number; gid?: number }, opts: At & { recursive?: boolean } = {}): Promise<{ path: string; uid: number; gid: number }> {
    return this.#http.json('POST', this.#p(app, id, 'chown'), { body: { path, ...owner, ...opts } })
  }

  /** The directory as a tar stream. */
  async tarDown(app: string, id: string, path: string, opts: At & { signal?: AbortSignal } = {}): Promise<ReadableStream<Uint8Array>> {
    const res = await this.#http.fetch('GET', this.#p(app, id, 'tar'), { query: { path, workingDir: opts.workingDir }, ...(opts.signal ? { signal: opts.signal } : {}) })
    return res.body as ReadableStream<Uint8Array>
  }

  /** Unpacks a tar archive into the directory (made first with mkdirParents). */
  tarUp(app: string, id: string, path: string, archive: Body, opts: At & { mkdirParents?: boolean } = {}): Promise<{ path: string }> {
    return this.#http.json('PUT', this.#p(app, id, 'tar'), { raw: archive as BodyInit, query: { path, workingDir: opts.workingDir, mkdirParents: opts.mkdirParents } })
  }
}
