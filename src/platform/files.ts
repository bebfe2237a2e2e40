/**
 * Files in a machine, running or stopped, without starting it: Sprites' filesystem API (same
 * operations and parameter names) under a Fly machine. The rules live here: the app and machine
 * exist, the machine is not being replaced or destroyed, paths are absolute and normal
 * (machine-path.ts), listings and delete reports are bounded. The runtime confines every path
 * to the machine (runtime/runc/files.ts says how).
 *
 *   const { stream } = await platform.files.read('myapp', id, { path: 'app.py', workingDir: '/srv' })
 *   await platform.files.write('myapp', id, { path: '/srv/app.py', mode: '0755' }, Readable.from([bytes]))
 */
import { Readable } from 'node:stream'
import { HangarError } from '../errors.ts'
import type { MachineFiles } from '../runtime/types.ts'
import { type Ctx, loadMachine } from './context.ts'
import { machinePath, namesDirectory } from './machine-path.ts'
import { assertCan } from './machine-state.ts'
import { parse } from './validate.ts'

export { fsChmodSchema, fsChownSchema, fsCopySchema, fsDeleteSchema, fsListSchema, fsReadSchema, fsRenameSchema, fsWriteSchema, listLimits, type FileEntryView, type ListView } from '../ops/files.ts'
import { fsChmodSchema, fsChownSchema, fsCopySchema, fsDeleteSchema, fsListSchema, fsReadSchema, fsRenameSchema, fsWriteSchema, listLimits, type ListView } from '../ops/files.ts'

/** Paths a delete reports by name (it counts them all). */
const maxDeletedListed = 1000

const octal = (m: number): string => `0${m.toString(8).padStart(3, '0')}`

export function filesService(ctx: Ctx) {
  /**
   * The runtime's files, once the machine's filesystem is in place: checked (and after a reboot
   * mounted) under the machine's lock, so no start, replace or destroy is half-way meanwhile.
   */
  async function files(app: string, id: string): Promise<MachineFiles> {
    assertCan('files', loadMachine(ctx, app, id).state, id)
    const f = ctx.driver.files
    if (!f) throw new HangarError('unavailable', `the ${ctx.driver.name} runtime has no files API`)
    await ctx.queue.run(id, async () => {
      assertCan('files', loadMachine(ctx, app, id).state, id)
      await f.ready(id)
    })
    return f
  }

  function notRoot(path: string, what: string): string {
    if (path === '/') throw new HangarError('invalid_argument', `refusing to ${what} the machine's root directory`, { hint: 'name something under /' })
    return path
  }

  return {
    /** The file's bytes, streamed; any size. */
    async read(app: string, id: string, query: unknown): Promise<{ path: string; size: number; mode: string; stream: Readable }> {
      const q = parse(fsReadSchema, query, 'fs/read query')
      const path = machinePath(q.path, q.workingDir)
      const r = await (await files(app, id)).read(id, path)
      return { path, size: r.size, mode: octal(r.mode), stream: r.stream }
    },

    /** Writes `data` atomically (temp file + rename); a path ending in "/" makes a directory instead. */
    async write(app: string, id: string, query: unknown, data: Readable | null): Promise<{ path: string; size: number; mode: string }> {
      const q = parse(fsWriteSchema, query, 'fs/write query')
      const path = machinePath(q.path, q.workingDir)
      const f = await files(app, id)
      const opts = { ...(q.mode !== undefined ? { mode: q.mode } : {}), mkdirParents: q.mkdirParents ?? false }
      if (namesDirectory(q.path)) {
        data?.resume()
        const r = await f.mkdir(id, path, opts)
        return { path, size: 0, mode: octal(r.mode) }
      }
      const r = await f.write(id, notRoot(path, 'write over'), data ?? Readable.from([]), opts)
      return { path, size: r.size, mode: octal(r.mode) }
    },

    /** A directory's entries (or a file as one entry), at most `limit`; `truncated` says there were more. */
    async list(app: string, id: string, query: unknown): Promise<ListView> {
      const q = parse(fsListSchema, query, 'fs/list query')
      const path = machinePath(q.path, q.workingDir)
      const limit = q.limit ?? listLimits.default
      const r = await (await files(app, id)).list(id, path, { recursive: q.recursive ?? false, max: limit })
      const pattern = q.pattern
      const entries = (pattern ? r.entries.filter((e) => matchesGlob(e.name, pattern)) : r.entries).map((e) => ({ ...e, mode: octal(e.mode) }))
      return { path, entries, count: entries.length, truncated: r.truncated }
    },

    /** Deletes a file, an empty directory, or with recursive a whole tree; never the root. */
    async delete(app: string, id: string, query: unknown): Promise<{ deleted: string[]; count: number }> {
      const q = parse(fsDeleteSchema, query, 'fs/delete query')
      const path = notRoot(machinePath(q.path, q.workingDir), 'delete')
      return (await files(app, id)).delete(id, path, { recursive: q.recursive ?? false, maxListed: maxDeletedListed })
    },

    async rename(app: string, id: string, body: unknown): Promise<{ source: string; dest: string }> {
      const b = parse(fsRenameSchema, body, 'fs/rename request')
      const source = notRoot(machinePath(b.source, b.workingDir, 'source'), 'rename')
      const dest = notRoot(machinePath(b.dest, b.workingDir, 'dest'), 'rename onto')
      await (await files(app, id)).rename(id, source, dest)
      return { source, dest }
    },

    async copy(app: string, id: string, body: unknown): Promise<{ source: string; dest: string }> {
      const b = parse(fsCopySchema, body, 'fs/copy request')
      const source = machinePath(b.source, b.workingDir, 'source')
      const dest = notRoot(machinePath(b.dest, b.workingDir, 'dest'), 'copy onto')
      await (await files(app, id)).copy(id, source, dest, { recursive: b.recursive ?? false, preserveAttrs: b.preserveAttrs ?? false })
      return { source, dest }
    },

    async chmod(app: string, id: string, body: unknown): Promise<{ path: string; mode: string }> {
      const b = parse(fsChmodSchema, body, 'fs/chmod request')
      const path = machinePath(b.path, b.workingDir)
      await (await files(app, id)).chmod(id, path, b.mode, { recursive: b.recursive ?? false })
      return { path, mode: octal(b.mode) }
    },

    /** Ids as the machine sees them (1000 is its user 1000); an id left out stays as it is. */
    async chown(app: string, id: string, body: unknown): Promise<{ path: string; uid: number; gid: number }> {
      const b = parse(fsChownSchema, body, 'fs/chown request')
      if (b.uid === undefined && b.gid === undefined) throw new HangarError('invalid_argument', 'fs/chown needs uid, gid or both')
      const path = machinePath(b.path, b.workingDir)
      const uid = b.uid ?? -1
      const gid = b.gid ?? -1
      await (await files(app, id)).chown(id, path, uid, gid, { recursive: b.recursive ?? false })
      return { path, uid, gid }
    },

    /** The directory as a tar stream (symlinks kept as symlinks, numeric owners). */
    async tarDown(app: string, id: string, query: unknown): Promise<{ path: string; stream: Readable }> {
      const q = parse(fsReadSchema, query, 'fs/tar query')
      const path = machinePath(q.path, q.workingDir)
      return { path, stream: await (await files(app, id)).tarCreate(id, path) }
    },

    /** Unpacks a tar stream into the directory (made first with mkdirParents). */
    async tarUp(app: string, id: string, query: unknown, data: Readable | null): Promise<{ path: string }> {
      const q = parse(fsWriteSchema, query, 'fs/tar query')
      if (!data) throw new HangarError('invalid_argument', 'send the tar archive as the request body')
      const path = machinePath(q.path, q.workingDir)
      const f = await files(app, id)
      if (q.mkdirParents) await f.mkdir(id, path, { mkdirParents: true })
      await f.tarExtract(id, path, data)
      return { path }
    },
  }
}

export type FilesService = ReturnType<typeof filesService>

/** Shell-style globbing on one name: `*`, `?` and `[…]`. */
function matchesGlob(name: string, glob: string): boolean {
  let re = '^'
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string
    if (c === '*') re += '.*'
    else if (c === '?') re += '.'
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1)
      if (end < 0) re += '\\['
      else {
        const body = glob.slice(i + 1, end).replace(/\\/g, '\\\\')
        re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`
        i = end
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, '\\$&')
  }
  return new RegExp(`${re}$`, 's').test(name)
}
