/**
 * Files in a machine, running or stopped, without starting it. Every operation is one run of
 * native/hangar-fs.c, which joins the machine's user namespace, becomes its root and chroots
 * into its overlay before it touches a path (the file's header says why): Node never resolves
 * a machine path on the host. The overlay stays mounted while the machine exists; after a
 * reboot `ready` mounts it again (as start would); an operation on a machine whose overlay is
 * not mounted fails in the helper (it checks ROOTFS is a mount point) instead of writing under it.
 *
 *   const files = new RuncFiles(helper, layout, (id) => provisioner.ensureFilesystem(id))
 *   await files.ready(id)
 *   const { stream } = await files.read(id, '/etc/hostname')
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { PassThrough, type Readable } from 'node:stream'
import { HangarError } from '../../errors.ts'
import type { FileEntry, MachineFiles } from '../types.ts'
import { fileError, fromHelperString, parseEntry, parseStatus, tarError, type HelperStatus } from './fs-protocol.ts'
import type { Layout } from './layout.ts'

/** What the helper may print on stderr that we keep for an error message. */
const maxStderr = 8192

interface Run {
  child: ChildProcess
  /** The first status line, as soon as the helper writes it. */
  status: Promise<HelperStatus>
  /** The exit code (or 128+signal) and what stderr held, once every stream has closed. */
  closed: Promise<{ code: number; stderr: string }>
}

const octal = (mode: number | undefined): string => (mode === undefined ? '-' : mode.toString(8))
const flag = (b: boolean | undefined): string => (b ? '1' : '0')

export class RuncFiles implements MachineFiles {
  #helper: string
  #layout: Layout
  #ready: (id: string) => Promise<void>

  constructor(helper: string, layout: Layout, ready: (id: string) => Promise<void>) {
    this.#helper = helper
    this.#layout = layout
    this.#ready = ready
  }

  ready(id: string): Promise<void> {
    return this.#ready(id)
  }

  async #start(id: string, op: string, args: string[], stdin: boolean): Promise<Run> {
    const paths = this.#layout.machine(id)
    const child = spawn(this.#helper, [paths.userns, paths.rootfs, op, ...args], { stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < maxStderr) stderr += d
    })
    const statusPipe = child.stdio[3] as Readable
    let buffered = ''
    const status = new Promise<HelperStatus>((resolve, reject) => {
      statusPipe.setEncoding('utf8')
      statusPipe.on('data', (d: string) => {
        buffered += d
        const nl = buffered.indexOf('\n')
        if (nl >= 0) {
          try {
            resolve(parseStatus(buffered.slice(0, nl)))
          } catch (e) {
            reject(e)
          }
        }
      })
      statusPipe.on('end', () => {
        // Gone without a word: the walls could not be put up (stderr says which) or it crashed.
        setImmediate(() => reject(new HangarError('runtime_error', `the files helper failed before ${op}: ${stderr.trim() || 'no output'}`)))
      })
    })
    status.catch(() => {}) // observed by the caller; a rejection nobody awaited must not crash the daemon
    const closed = new Promise<{ code: number; stderr: string }>((resolve, reject) => {
      child.on('error', reject)
      child.on('close', (code, signal) => resolve({ code: code ?? 128 + (signal ? 9 : 0), stderr }))
    })
    return { child, status, closed }
  }

  /** Runs an op to its end; its status line is the answer. */
  async #op(id: string, op: string, args: string[], onStdout?: (line: string) => void): Promise<HelperStatus & { ok: true }> {
    const run = await this.#start(id, op, args, false)
    let bad: unknown = null
    if (onStdout) {
      eachLine(run.child.stdout as Readable, (line) => {
        try {
          if (bad === null) onStdout(line)
        } catch (e) {
          bad = e
        }
      })
    } else run.child.stdout?.resume()
    const [status] = await Promise.all([run.status, run.closed])
    if (!status.ok) throw fileError(status)
    if (bad !== null) throw bad
    return status
  }

  async #stream(id: string, op: string, args: string[], fail: (closed: { code: number; stderr: string }) => Error): Promise<{ status: HelperStatus & { ok: true }; stream: Readable }> {
    const run = await this.#start(id, op, args, false)
    const status = await run.status
    if (!status.ok) {
      await run.closed
      throw fileError(status)
    }
    const out = new PassThrough()
    run.child.stdout?.pipe(out, { end: false })
    // The reader went away: nothing more to send.
    out.on('close', () => run.child.kill('SIGKILL'))
    void run.closed.then(
      (c) => (c.code === 0 ? out.end() : out.destroy(fail(c))),
      (e: Error) => out.destroy(e),
    )
    return { status, stream: out }
  }

  async #feed(id: string, op: string, args: string[], data: Readable): Promise<{ status: HelperStatus; code: number; stderr: string }> {
    const run = await this.#start(id, op, args, true)
    const stdin = run.child.stdin as NodeJS.WritableStream & { on: (e: string, f: () => void) => void }
    // The helper stops reading when it fails (a full disk): its status says why, not our EPIPE.
    stdin.on('error', () => data.unpipe())
    data.pipe(stdin)
    run.child.stdout?.resume()
    const closed = await run.closed
    data.unpipe()
    if (!data.readableEnded) data.resume() // drain what the helper never took, so the request can end
    return { status: await run.status, ...closed }
  }

  async read(id: string, path: string): Promise<{ size: number; mode: number; stream: Readable }> {
    const { status, stream } = await this.#stream(id, 'read', [path], (c) => new HangarError('runtime_error', `reading ${path} failed: ${c.stderr.trim() || `exit ${c.code}`}`))
    return { size: status.size ?? 0, mode: status.mode ?? 0, stream }
  }

  async write(id: string, path: string, data: Readable, opts: { mode?: number; mkdirParents?: boolean }): Promise<{ size: number; mode: number }> {
    const r = await this.#feed(id, 'write', [path, octal(opts.mode), flag(opts.mkdirParents)], data)
    if (!r.status.ok) throw fileError(r.status)
    return { size: r.status.size ?? 0, mode: r.status.mode ?? 0 }
  }

  async mkdir(id: string, path: string, opts: { mode?: number; mkdirParents?: boolean }): Promise<{ mode: number }> {
    const s = await this.#op(id, 'mkdir', [path, octal(opts.mode), flag(opts.mkdirParents)])
    return { mode: s.mode ?? 0 }
  }

  async list(id: string, path: string, opts: { recursive: boolean; max: number }): Promise<{ isDir: boolean; entries: FileEntry[]; truncated: boolean }> {
    const entries: FileEntry[] = []
    const s = await this.#op(id, 'list', [path, flag(opts.recursive), String(opts.max)], (line) => entries.push(parseEntry(line)))
    return { isDir: s.isDir === true, entries, truncated: s.truncated === true }
  }

  async delete(id: string, path: string, opts: { recursive: boolean; maxListed: number }): Promise<{ deleted: string[]; count: number }> {
    const deleted: string[] = []
    let count = 0
    await this.#op(id, 'delete', [path, flag(opts.recursive)], (line) => {
      if (count++ < opts.maxListed) deleted.push(fromHelperString(JSON.parse(line) as string))
    })
    return { deleted, count }
  }

  async rename(id: string, from: string, to: string): Promise<void> {
    await this.#op(id, 'rename', [from, to])
  }

  async copy(id: string, from: string, to: string, opts: { recursive: boolean; preserveAttrs: boolean }): Promise<void> {
    await this.#op(id, 'copy', [from, to, flag(opts.recursive), flag(opts.preserveAttrs)])
  }

  async chmod(id: string, path: string, mode: number, opts: { recursive: boolean }): Promise<void> {
    await this.#op(id, 'chmod', [path, octal(mode), flag(opts.recursive)])
  }

  async chown(id: string, path: string, uid: number, gid: number, opts: { recursive: boolean }): Promise<void> {
    await this.#op(id, 'chown', [path, String(uid), String(gid), flag(opts.recursive)])
  }

  async tarCreate(id: string, dir: string): Promise<Readable> {
    return (await this.#stream(id, 'tar-c', [dir], (c) => tarError(c.stderr, dir, c.code))).stream
  }

  async tarExtract(id: string, dir: string, data: Readable): Promise<void> {
    const r = await this.#feed(id, 'tar-x', [dir], data)
    if (!r.status.ok) throw fileError(r.status)
    if (r.code !== 0) throw tarError(r.stderr, dir, r.code)
  }
}

/** Calls `f` with each complete line of `stream`. */
function eachLine(stream: Readable, f: (line: string) => void): void {
  let rest = ''
  stream.setEncoding('utf8')
  stream.on('data', (d: string) => {
    rest += d
    let nl: number
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl)
      rest = rest.slice(nl + 1)
      if (line) f(line)
    }
  })
}
