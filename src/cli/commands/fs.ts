/** hangar fs read|write|ls|rm|mv|cp|chmod|chown|tar-down|tar-up: files in a machine, running or stopped. */
import { createWriteStream, openAsBlob } from 'node:fs'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { HangarError } from '../../errors.ts'
import type { At } from '../../sdk/index.ts'
import { appFlag, type Command, type Invocation } from '../command.ts'
import { table } from '../output.ts'
import { findMachine, intFlag } from '../resolve.ts'

const where = { ...appFlag, workdir: { type: 'string' as const, short: 'C' } }
const recursive = { recursive: { type: 'boolean' as const, short: 'r' } }

/** The machine (id or name), the positionals after it, and the workingDir flag. */
async function target(inv: Invocation, usage: string, want: number): Promise<{ app: string; id: string; args: string[]; at: At }> {
  const [machine, ...args] = inv.positionals
  if (!machine || args.length < want) throw new HangarError('invalid_argument', `missing arguments; usage: ${usage}`)
  const { app, machine: m } = await findMachine(inv.client(), machine, inv.flags.app as string | undefined)
  return { app, id: m.id, args, at: inv.flags.workdir ? { workingDir: inv.flags.workdir as string } : {} }
}

/** A local file, or stdin for "-" or nothing, as a request body. */
async function source(file: string | undefined): Promise<Blob | ReadableStream<Uint8Array>> {
  return file && file !== '-' ? openAsBlob(file) : (Readable.toWeb(process.stdin) as ReadableStream<Uint8Array>)
}

/** Bytes from the daemon to a local file, or to stdout for "-" or nothing. */
async function sink(stream: ReadableStream<Uint8Array>, file: string | undefined): Promise<void> {
  await pipeline(Readable.fromWeb(stream as never), file && file !== '-' ? createWriteStream(file) : process.stdout)
}

const mode = (m: number | string): string => (typeof m === 'number' ? m.toString(8) : m)

export const fs: Record<string, Command> = {
  read: {
    usage: 'hangar fs read MACHINE PATH [--app A] [-C WORKDIR] [-o FILE]',
    summary: 'Print a file of a machine (running or stopped), or save it with -o',
    flags: { ...where, output: { type: 'string', short: 'o' } },
    async run(inv) {
      const { app, id, args, at } = await target(inv, this.usage, 1)
      await sink(await inv.client().machines.fs.readStream(app, id, args[0] as string, at), inv.flags.output as string | undefined)
    },
  },
  write: {
    usage: 'hangar fs write MACHINE PATH [FILE|-] [--app A] [-C WORKDIR] [--mode 0755] [-p]',
    summary: 'Write a local file (or stdin) to a path in a machine, atomically; PATH ending in / makes a directory',
    flags: { ...where, mode: { type: 'string', short: 'm' }, parents: { type: 'boolean', short: 'p' } },
    async run(inv) {
      const { app, id, args, at } = await target(inv, this.usage, 1)
      const path = args[0] as string
      const body = path.endsWith('/') ? new Uint8Array() : await source(args[1])
      const r = await inv.client().machines.fs.write(app, id, path, body, { ...at, ...(inv.flags.mode ? { mode: inv.flags.mode as string } : {}), mkdirParents: inv.flags.parents === true })
      inv.out.result(r, (x) => `wrote ${x.size} bytes to ${x.path} (mode ${x.mode})`)
    },
  },
  ls: {
    usage: 'hangar fs ls MACHINE [PATH] [--app A] [-C WORKDIR] [-r] [--pattern GLOB] [--limit N]',
    summary: 'List a directory of a machine (-r: the whole tree)',
    flags: { ...where, ...recursive, pattern: { type: 'string' }, limit: { type: 'string' } },
    async run(inv) {
      const { app, id, args, at } = await target(inv, this.usage, 0)
      const limit = intFlag(inv.flags.limit, 'limit')
      const r = await inv.client().machines.fs.list(app, id, args[0] ?? '/', {
        ...at, recursive: inv.flags.recursive === true, ...(inv.flags.pattern ? { pattern: inv.flags.pattern as string } : {}), ...(limit ? { limit } : {}),
      })
      inv.out.result(r, (x) => [
        ...table([['MODE', 'UID', 'GID', 'SIZE', 'MODIFIED', 'NAME'], ...x.entries.map((e) => [e.mode, String(e.uid), String(e.gid), String(e.size), e.modTime.slice(0, 19), `${inv.flags.recursive ? e.path : e.name}${e.isDir ? '/' : ''}${e.target !== undefined ? ` -> ${e.target}` : ''}`])]),
        ...(x.truncated ? [`[truncated after ${x.count} entries; pass --limit or list a subdirectory]`] : []),
      ])
    },
  },
  rm: {
    usage: 'hangar fs rm MACHINE PATH [--app A] [-C WORKDIR] [-r]',
    summary: 'Delete a file or empty directory of a machine (-r: a whole tree)',
    flags: { ...where, ...recursive },
    async run(inv) {
      const { app, id, args, at } = await target(inv, this.usage, 1)
      const r = await inv.client().machines.fs.delete(app, id, args[0] as string, { ...at, recursive: inv.flags.recursive === true })
      inv.out.result(r, (x) => `deleted ${x.count} path${x.count === 1 ? '' : 's'}`)
    },
  },
  mv: {
    usage: 'hangar fs mv MACHINE SOURCE DEST [--app A] [-C WORKDIR]',
    summary: 'Rename or move a file or directory in a machine',
    flags: where,
    async run(inv) {
      const { app, id, args, at } = await target(inv, this.usage, 2)
      const r = await inv.client().machines.fs.rename(app, id, args[0] as string, args[1] as string, at)
      inv.out.result(r, (x) => `renamed ${x.source} to ${x.dest}`)
    },
  },
  cp: {
    usage: 'hangar fs cp MACHINE SOURCE DEST [--app A] [-C WORKDIR] [-r] [--preserve]',
    summary: 'Copy a file (-r: a directory) inside a machine; --preserve keeps owners and times',
    flags: { ...where, ...recursive, preserve: { type: 'boolean' } },
    async run(inv) {
      const { app, id, args, at } = await target(inv, this.usage, 2)
      const r = await inv.client().machines.fs.copy(app, id, args[0] as string, args[1] as string, { ...at, recursive: inv.flags.recursive === true, preserveAttrs: inv.flags.preserve === true })
      inv.out.result(r, (x) => `copied ${x.source} to ${x.dest}`)
    },
  },
  chmod: {
    usage: 'hangar fs chmod MACHINE MODE PATH [--app A] [-C WORKDIR] [-r]',
    summary: 'Change the mode (octal, e.g. 0755) of a path in a machine',
    flags: { ...where, ...recursive },
    async run(inv) {
      const { app, id, args, at } = await target(inv, this.usage, 2)
      const r = await inv.client().machines.fs.chmod(app, id, args[1] as string, args[0] as string, { ...at, recursive: inv.flags.recursive === true })
      inv.out.result(r, (x) => `${x.path}: mode ${mode(x.mode)}`)
    },
  },
  chown: {
    usage: 'hangar fs chown MACHINE UID[:GID] PATH [--app A] [-C WORKDIR] [-r]',
    summary: 'Change the owner (and group) of a path, as the machine numbers them',
    flags: { ...where, ...recursive },
    async run(inv) {
      const { app, id, args, at } = await target(inv, this.usage, 2)
      const m = /^(\d*)(?::(\d+))?$/.exec(args[0] as string)
      if (!m || (!m[1] && !m[2])) throw new HangarError('invalid_argument', `owner must be UID, UID:GID or :GID (numbers), got "${args[0]}"`)
      const owner = { ...(m[1] ? { uid: Number(m[1]) } : {}), ...(m[2] ? { gid: Number(m[2]) } : {}) }
      const r = await inv.client().machines.fs.chown(app, id, args[1] as string, owner, { ...at, recursive: inv.flags.recursive === true })
      inv.out.result(r, (x) => `${x.path}: owner ${x.uid}:${x.gid}`)
    },
  },
  'tar-down': {
    usage: 'hangar fs tar-down MACHINE DIR [--app A] [-C WORKDIR] [-o FILE.tar]',
    summary: 'A directory of a machine as a tar archive, to a file or stdout',
    flags: { ...where, output: { type: 'string', short: 'o' } },
    async run(inv) {
      const { app, id, args, at } = await target(inv, this.usage, 1)
      await sink(await inv.client().machines.fs.tarDown(app, id, args[0] as string, at), inv.flags.output as string | undefined)
    },
  },
  'tar-up': {
    usage: 'hangar fs tar-up MACHINE DIR [FILE.tar|-] [--app A] [-C WORKDIR] [-p]',
    summary: 'Unpack a tar archive (a file or stdin) into a directory of a machine',
    flags: { ...where, parents: { type: 'boolean', short: 'p' } },
    async run(inv) {
      const { app, id, args, at } = await target(inv, this.usage, 1)
      const body = await source(args[1])
      const r = await inv.client().machines.fs.tarUp(app, id, args[0] as string, body, { ...at, mkdirParents: inv.flags.parents === true })
      inv.out.result(r, (x) => `unpacked into ${x.path}`)
    },
  },
}
