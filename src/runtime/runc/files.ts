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
import { readFileSync } from 'node:fs'
import { PassThrough, type Readable } from 'node:stream'
import { HangarError } from '../../errors.ts'
import type { FileEntry, MachineFiles, VolumeMount } from '../types.ts'
import { fileError, fromHelperString, parseEntry, parseStatus, tarError, type HelperStatus } from './fs-protocol.ts'
import type { Layout } from './layout.ts'
import { volumeMountPoint } from './volume-mounts.ts'

/** What the helper may print on stderr that we keep for an error message. */
const maxStderr = 8192

interface Run {
  child: ChildProcess
  /** The first status line, as soon as the helper writes it. */
  status: Promise<HelperStatus>
  /** The exit code (or 128+signal) and what stderr held, once every stream has closed. */
  closed: Promise<{ code: number; stderr: string }>
}

/**
 * Where an operation runs: the machine's overlay, or one of its volumes (mounted on the host at
 * roots/<id>/vols/<n>, idmapped like the overlay), whose paths are then relative to the volume and
 * `prefix` (its mount path in the machine) puts back in front of the answers.
 */
interface Target {
  root: string
  prefix: string
}

/** A path as the machine sees it, from one relative to `t`'s root. */
const outer = (t: Target, path: string): string => (t.prefix === '' ? path : path === '/' ? t.prefix : `${t.prefix}${path}`)

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

  /** The root `path` lies under (the deepest volume mount holding it, else the overlay) and the path within it. */
  #place(id: string, path: string): [Target, string] {
    const paths = this.#layout.machine(id)
    let mounts: VolumeMount[] = []
    try {
      mounts = JSON.parse(readFileSync(paths.volumes, 'utf8')) as VolumeMount[]
    } catch {
      // no volumes
    }
    let best: [Target, string] = [{ root: paths.rootfs, prefix: '' }, path]
    for (const [n, m] of mounts.entries()) {
      const d = m.destination.replace(/\/+$/, '')
      if ((path === d || path.startsWith(`${d}/`)) && d.length > best[0].prefix.length) best = [{ root: volumeMountPoint(paths, n), prefix: d }, path.slice(d.length) || '/']
    }
    return best
  }

  /** Two paths of one operation (rename, copy) must lie on one filesystem, as rename(2) says. */
  #placeBoth(id: string, from: string, to: string): [Target, string, string] {
    const [a, inA] = this.#place(id, from)
    const [b, inB] = this.#place(id, to)
    if (a.root !== b.root) {
      throw new HangarError('file_error', `${from} and ${to} are on different filesystems (a volume and the machine's disk, or two volumes)`, {
        hint: 'read the file and write it at the new place, or move it within one filesystem',
        details: { errno: 'EXDEV', path: to },
      })
    }
    return [a, inA, inB]
  }

  #fail(t: Target, status: HelperStatus): HangarError {
    const s = status as Parameters<typeof fileError>[0]
    return fileError({ ...s, path: outer(t, s.path) })
  }

  async #start(id: string, t: Target, op: string, args: string[], stdin: boolean): Promise<Run> {
    const paths = this.#layout.machine(id)
    const child = spawn(this.#helper, [paths.userns, t.root, op, ...args], { stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe', 'pipe'] })
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
  async #op(id: string, t: Target, op: string, args: string[], onStdout?: (line: string) => void): Promise<HelperStatus & { ok: true }> {
    const run = await this.#start(id, t, op, args, false)
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
    if (!status.ok) throw this.#fail(t, status)
    if (bad !== null) throw bad
    return status
  }

  async #stream(id: string, t: Target, op: string, args: string[], fail: (closed: { code: number; stderr: string }) => Error): Promise<{ status: HelperStatus & { ok: true }; stream: Readable }> {
    const run = await this.#start(id, t, op, args, false)
    const status = await run.status
    if (!status.ok) {
      await run.closed
      throw this.#fail(t, status)
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

  async #feed(id: string, t: Target, op: string, args: string[], data: Readable): Promise<{ status: HelperStatus; code: number; stderr: string }> {
    const run = await this.#start(id, t, op, args, true)
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
    const [t, inner] = this.#place(id, path)
    const { status, stream } = await this.#stream(id, t, 'read', [inner], (c) => new HangarError('runtime_error', `reading ${path} failed: ${c.stderr.trim() || `exit ${c.code}`}`))
    return { size: status.size ?? 0, mode: status.mode ?? 0, stream }
  }

  async write(id: string, path: string, data: Readable, opts: { mode?: number; mkdirParents?: boolean }): Promise<{ size: number; mode: number }> {
    const [t, inner] = this.#place(id, path)
    const r = await this.#feed(id, t, 'write', [inner, octal(opts.mode), flag(opts.mkdirParents)], data)
    if (!r.status.ok) throw this.#fail(t, r.status)
    return { size: r.status.size ?? 0, mode: r.status.mode ?? 0 }
  }

  async mkdir(id: string, path: string, opts: { mode?: number; mkdirParents?: boolean }): Promise<{ mode: number }> {
    const [t, inner] = this.#place(id, path)
    const s = await this.#op(id, t, 'mkdir', [inner, octal(opts.mode), flag(opts.mkdirParents)])
    return { mode: s.mode ?? 0 }
  }

  async list(id: string, path: string, opts: { recursive: boolean; max: number }): Promise<{ isDir: boolean; entries: FileEntry[]; truncated: boolean }> {
    const entries: FileEntry[] = []
    const [t, inner] = this.#place(id, path)
    const s = await this.#op(id, t, 'list', [inner, flag(opts.recursive), String(opts.max)], (line) => {
      const e = parseEntry(line)
      entries.push({ ...e, path: outer(t, e.path) })
    })
    return { isDir: s.isDir === true, entries, truncated: s.truncated === true }
  }

  async delete(id: string, path: string, opts: { recursive: boolean; maxListed: number }): Promise<{ deleted: string[]; count: number }> {
    const deleted: string[] = []
    let count = 0
    const [t, inner] = this.#place(id, path)
    await this.#op(id, t, 'delete', [inner, flag(opts.recursive)], (line) => {
      if (count++ < opts.maxListed) deleted.push(outer(t, fromHelperString(JSON.parse(line) as string)))
    })
    return { deleted, count }
  }

  async rename(id: string, from: string, to: string): Promise<void> {
    const [t, a, b] = this.#placeBoth(id, from, to)
    await this.#op(id, t, 'rename', [a, b])
  }

  async copy(id: string, from: string, to: string, opts: { recursive: boolean; preserveAttrs: boolean }): Promise<void> {
    const [t, a, b] = this.#placeBoth(id, from, to)
    await this.#op(id, t, 'copy', [a, b, flag(opts.recursive), flag(opts.preserveAttrs)])
  }

  async chmod(id: string, path: string, mode: number, opts: { recursive: boolean }): Promise<void> {
    const [t, inner] = this.#place(id, path)
    await this.#op(id, t, 'chmod', [inner, octal(mode), flag(opts.recursive)])
  }

  async chown(id: string, path: string, uid: number, gid: number, opts: { recursive: boolean }): Promise<void> {
    const [t, inner] = this.#place(id, path)
    await this.#op(id, t, 'chown', [inner, String(uid), String(gid), flag(opts.recursive)])
  }

  async tarCreate(id: string, dir: string): Promise<Readable> {
    const [t, inner] = this.#place(id, dir)
    return (await this.#stream(id, t, 'tar-c', [inner], (c) => tarError(c.stderr, dir, c.code))).stream
  }

  async tarExtract(id: string, dir: string, data: Readable): Promise<void> {
    const [t, inner] = this.#place(id, dir)
    const r = await this.#feed(id, t, 'tar-x', [inner], data)
    if (!r.status.ok) throw this.#fail(t, r.status)
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
