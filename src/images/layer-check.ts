/**
 * The validation pass over a layer: every entry must stay inside the layer (no
 * absolute paths, no "..", nothing below a symlink the same layer declared, no
 * hard link pointing out), GNU tar must read the same entries as the check, and
 * the uncompressed bytes must hash to the config's diff id. It also collects the
 * OCI whiteouts, which unpack turns into their overlayfs form. The same pass can
 * feed GNU tar's extraction (into a private directory the caller discards when
 * the check fails): the layer is decompressed once.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { once } from 'node:events'
import type { Writable } from 'node:stream'
import { posix } from 'node:path'
import { Parser, type ReadEntry } from 'tar'
import { HangarError } from '../errors.ts'
import { LAYER_CHUNK, decompressor, sniffFile } from './compression.ts'
import { gnuListing, typeLetter, type ListedEntry } from './gnu-listing.ts'

export interface LayerCheck {
  /** sha256 of the uncompressed tar. */
  diffId: string
  /** Paths (relative to the layer root) of files the layer deletes: `.wh.<name>` → `<name>`. */
  whiteouts: string[]
  /** Directories whose lower contents the layer hides: `<dir>/.wh..wh..opq`. */
  opaque: string[]
}

const allowedTypes = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link', 'CharacterDevice', 'BlockDevice', 'FIFO'])

/**
 * Reads the layer blob at `path`; throws HangarError invalid_argument naming the
 * first bad entry. `extract` (GNU tar's stdin) gets the same decompressed bytes;
 * it is ended when the layer is read whole, destroyed when the check fails.
 */
export async function checkLayer(path: string, expectedDiffId: string | undefined, extract: Writable): Promise<LayerCheck> {
  const symlinks = new Set<string>()
  const result: LayerCheck = { diffId: '', whiteouts: [], opaque: [] }
  let failure: Error | null = null
  const fail = (entryPath: string, why: string): void => {
    failure ??= new HangarError('invalid_argument', `layer entry "${entryPath}" ${why}`, { details: { entry: entryPath } })
  }

  // Both readers' views, compared in archive order as they arrive (see gnu-listing.ts).
  const ours: ListedEntry[] = []
  const theirs: ListedEntry[] = []
  let compared = 0
  const align = (): void => {
    while (compared < ours.length && compared < theirs.length) {
      const a = ours[compared] as ListedEntry
      const b = theirs[compared] as ListedEntry
      if (a.type !== b.type || a.path !== b.path || (a.link ?? '') !== (b.link ?? '')) fail(b.path, `is read differently by the two tar readers (the check sees ${show(a)}, GNU tar would extract ${show(b)})`)
      compared++
    }
    // Keep only what one side has not matched yet.
    if (compared > 1024) {
      ours.splice(0, compared)
      theirs.splice(0, compared)
      compared = 0
    }
  }
  const listing = gnuListing((e, line) => {
    if (!e) return fail('?', `cannot be listed by GNU tar: ${JSON.stringify(line.slice(0, 200))}`)
    theirs.push(e)
    align()
  })
  // tar exits early when it cannot read on: the writes after that are moot, not an error here.
  listing.child.stdin.on('error', () => {})

  const inspect = (entry: ReadEntry): void => {
    entry.resume()
    ours.push({ type: typeLetter(entry.type), path: entry.path, ...(entry.linkpath ? { link: entry.linkpath } : {}) })
    align()
    if (failure) return
    const p = relative(entry.path)
    if (p === null) return fail(entry.path, 'has an absolute path or a ".." component')
    if (!allowedTypes.has(entry.type)) return fail(entry.path, `has unsupported type ${entry.type}`)
    // GNU tar extracts the layer, node-tar reads it here: constructs the two read differently
    // (a link or directory carrying a body, global PAX headers) could hide entries from this check.
    if ((entry.type === 'Link' || entry.type === 'SymbolicLink' || entry.type === 'Directory') && (entry.header?.size ?? 0) > 0) {
      return fail(entry.path, `is a ${entry.type} with a ${entry.header?.size}-byte body, which tar readers disagree on`)
    }
    if (entry.globalExtended) return fail(entry.path, 'follows a global PAX header, which tar readers apply differently')
    if (p === '') return entry.type === 'Directory' ? undefined : fail(entry.path, 'replaces the layer root')
    const through = viaSymlink(p, symlinks)
    if (through) return fail(entry.path, `goes through the symlink "${through}" declared earlier in the layer`)
    if (entry.type === 'SymbolicLink') symlinks.add(p)
    if (entry.type === 'Link') {
      const target = relative(entry.linkpath ?? '')
      if (target === null || target === '') return fail(entry.path, `is a hard link to "${entry.linkpath}", outside the layer`)
      const t = viaSymlink(target, symlinks)
      if (t) return fail(entry.path, `is a hard link through the symlink "${t}"`)
    }
    const base = posix.basename(p)
    if (base === '.wh..wh..opq') result.opaque.push(posix.dirname(p) === '.' ? '' : posix.dirname(p))
    else if (base.startsWith('.wh..wh.')) return // other AUFS metadata (.wh..wh.plnk …): skipped, like containerd
    else if (base.startsWith('.wh.')) {
      const name = base.slice(4)
      if (name === '' || name === '.' || name === '..') return fail(entry.path, 'is a whiteout without a name')
      result.whiteouts.push(posix.dirname(p) === '.' ? name : `${posix.dirname(p)}/${name}`)
    }
  }

  const parser = new Parser({ strict: true })
  parser.on('entry', inspect)
  // Entries node-tar does not understand still reach GNU tar, so their paths are checked too.
  parser.on('ignoredEntry', (e: ReadEntry) => {
    ours.push({ type: typeLetter(e.type), path: e.path })
    fail(e.path, `has unsupported type ${e.type}`)
  })
  parser.on('warn', (code: string, msg: string | Error) => fail('?', `cannot be parsed: ${code} ${typeof msg === 'string' ? msg : msg.message}`))
  const errored = once(parser, 'error').then(([e]) => { throw new HangarError('invalid_argument', `layer is not a valid tar: ${(e as Error).message}`, { cause: e }) })
  errored.catch(() => {})
  const ended = once(parser, 'end')

  const hash = createHash('sha256')
  const tarStream = createReadStream(path, { highWaterMark: LAYER_CHUNK }).pipe(decompressor(await sniffFile(path)))
  // GNU tar's listing and its extraction both read every byte the check reads.
  const sinks: Writable[] = [listing.child.stdin, extract]
  extract.on('error', () => {})
  const abort = (): void => {
    listing.child.kill()
    extract.destroy()
    tarStream.destroy()
  }
  try {
    for await (const chunk of tarStream as AsyncIterable<Buffer>) {
      hash.update(chunk)
      for (const sink of sinks) if (sink.writable) sink.write(chunk)
      const parsed = parser.write(chunk)
      // Each reader may run up to AHEAD behind decompression, so none waits on the others chunk by chunk.
      for (const sink of sinks) if (sink.writable && sink.writableLength > AHEAD) await drained(sink)
      if (!parsed) await Promise.race([once(parser, 'drain'), errored])
      if (failure) break
    }
  } catch (e) {
    abort()
    if (e instanceof HangarError) throw e
    throw new HangarError('invalid_argument', `layer cannot be decompressed: ${(e as Error).message}`, { cause: e })
  }
  if (failure) {
    abort()
    throw failure
  }
  parser.end()
  for (const sink of sinks) sink.end()
  try {
    await Promise.race([ended, errored])
  } catch (e) {
    abort()
    throw e
  }
  const gnu = await listing.done
  if (failure) throw failure
  if (gnu.code !== 0) throw new HangarError('invalid_argument', `layer cannot be read by GNU tar, which would extract it: ${gnu.stderr || `exit ${gnu.code}`}`)
  if (ours.length !== theirs.length) {
    const entry = (ours.length > theirs.length ? ours[theirs.length] : theirs[ours.length])?.path ?? '?'
    const extra = ours.length > theirs.length ? `"${entry}" is seen only by the check` : `"${entry}" would be extracted by GNU tar but is not seen by the check`
    throw new HangarError('invalid_argument', `layer is read differently by the two tar readers: ${extra}${gnu.stderr ? ` (GNU tar: ${gnu.stderr})` : ''}`, {
      hint: 'rebuild the image with a standard tool (buildah, docker, or tar --format=pax)',
      details: { entry },
    })
  }
  result.diffId = `sha256:${hash.digest('hex')}`
  if (expectedDiffId && result.diffId !== expectedDiffId) {
    throw new HangarError('invalid_argument', `layer content hashes to ${result.diffId}, but the image config says ${expectedDiffId}`)
  }
  return result
}

/** Bytes a tar process may lag behind decompression before the read pauses. */
const AHEAD = 8 << 20

/** Resolves once `w` has drained or closed; listens for nothing afterwards. */
function drained(w: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      w.off('drain', done)
      w.off('close', done)
      resolve()
    }
    w.on('drain', done)
    w.on('close', done)
  })
}

function show(e: ListedEntry): string {
  return `${e.type} "${e.path}"${e.link !== undefined ? ` → "${e.link}"` : ''}`
}

/** The path without "./" and trailing "/", or null if it is absolute or climbs out. "" is the root. */
function relative(p: string): string | null {
  if (p.startsWith('/')) return null
  const parts = p.split('/').filter((c) => c !== '' && c !== '.')
  if (parts.includes('..')) return null
  return parts.join('/')
}

/** The first proper prefix of `p` that is a symlink declared in this layer. */
function viaSymlink(p: string, symlinks: Set<string>): string | undefined {
  const parts = p.split('/')
  for (let i = 1; i < parts.length; i++) {
    const prefix = parts.slice(0, i).join('/')
    if (symlinks.has(prefix)) return prefix
  }
  return undefined
}
