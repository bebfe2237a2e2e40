/**
 * The shared read-only layer cache: each layer blob is unpacked once into
 * `<root>/layers/<id>/`, where <id> is 12 random characters so a stack of
 * 120 lowers still fits overlayfs' one-page mount options.
 * `<root>/layers-by-digest/<hex>` is a symlink to `../layers/<id>`: the map
 * from blob digest to directory, and the commit point. A layer is read once:
 * checked (layer-check.ts) while GNU tar extracts the same bytes into a private
 * ingest/ directory, which is deleted if the check fails; a layer that passes is
 * given overlayfs whiteouts, then renamed into layers/; whoever creates the map link first
 * wins, so concurrent unpacks (in this process or another) agree on one directory.
 *
 *   const dir = await cache.unpack('sha256:…', 'sha256:<diff id>')
 */
import { spawn, execFile } from 'node:child_process'
import type { Writable } from 'node:stream'
import { randomBytes } from 'node:crypto'
import { chmod, lstat, mkdir, readdir, readlink, rename, rm, stat, symlink } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { HangarError, isHangarError } from '../errors.ts'
import type { ContentStore } from './content-store.ts'
import { checkLayer, type LayerCheck } from './layer-check.ts'

const run = promisify(execFile)
const idAlphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'

export class LayerCache {
  #content: ContentStore
  #layers: string
  #byDigest: string
  #inflight = new Map<string, Promise<string>>()

  constructor(content: ContentStore) {
    this.#content = content
    this.#layers = join(content.root, 'layers')
    this.#byDigest = join(content.root, 'layers-by-digest')
  }

  async init(): Promise<void> {
    await mkdir(this.#layers, { recursive: true })
    await mkdir(this.#byDigest, { recursive: true })
  }

  /** The directory a layer is unpacked in, or null when it is not (yet). */
  async lookup(digest: string): Promise<string | null> {
    const link = join(this.#byDigest, this.#content.path(digest).split('/').pop()!)
    const target = await readlink(link).catch(() => null)
    if (target === null) return null
    const dir = join(this.#byDigest, target)
    return (await stat(dir).then((s) => s.isDirectory(), () => false)) ? dir : null
  }

  /** Every digest map link and the directory it names (which may be gone), for gc. */
  async entries(): Promise<{ digest: string; link: string; dir: string }[]> {
    const out: { digest: string; link: string; dir: string }[] = []
    for (const hex of await readdir(this.#byDigest)) {
      const link = join(this.#byDigest, hex)
      const target = await readlink(link).catch(() => null)
      if (target !== null) out.push({ digest: `sha256:${hex}`, link, dir: resolve(this.#byDigest, target) })
    }
    return out
  }

  /** Every directory under layers/, mapped or not, for gc. */
  async dirs(): Promise<string[]> {
    return (await readdir(this.#layers)).map((n) => join(this.#layers, n))
  }

  /** Unpacks the blob once; later and concurrent calls get the same directory. */
  unpack(digest: string, diffId?: string): Promise<string> {
    let p = this.#inflight.get(digest)
    if (!p) {
      p = this.#unpackOnce(digest, diffId).finally(() => this.#inflight.delete(digest))
      this.#inflight.set(digest, p)
    }
    return p
  }

  async #unpackOnce(digest: string, diffId?: string): Promise<string> {
    const existing = await this.lookup(digest)
    if (existing) return existing
    const blob = this.#content.path(digest)
    if (!(await this.#content.has(digest))) throw new HangarError('image_not_found', `layer ${digest} is not in the store`)
    const tmp = await this.#content.tempDir('layer')
    try {
      await chmod(tmp, 0o755) // mkdtemp makes 0700; a layer without a "./" entry keeps this mode
      // One decompression feeds the check and GNU tar; a layer the check refuses is removed with tmp, never renamed into layers/.
      const tar = extractor(tmp)
      const check = await checkLayer(blob, diffId, tar.stdin).catch(async (e: unknown) => {
        tar.kill()
        await tar.done.catch(() => {})
        if (isHangarError(e)) throw new HangarError(e.code, `layer ${digest}: ${e.message}`, { details: e.details, hint: e.hint, cause: e })
        throw e
      })
      await tar.done
      await applyWhiteouts(tmp, check)
      const id = randomId()
      await rename(tmp, join(this.#layers, id))
      try {
        await symlink(`../layers/${id}`, join(this.#byDigest, blob.split('/').pop()!))
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
        // Another process got there first: use its directory, drop ours.
        await rm(join(this.#layers, id), { recursive: true, force: true })
        const theirs = await this.lookup(digest)
        if (!theirs) throw new HangarError('internal', `layer ${digest} is mapped to a missing directory`)
        return theirs
      }
      return join(this.#layers, id)
    } finally {
      await rm(tmp, { recursive: true, force: true })
    }
  }
}

/** GNU tar extracting what is written to its stdin into `dir`, keeping owners, modes, xattrs and device nodes. */
function extractor(dir: string): { stdin: Writable; done: Promise<void>; kill: () => void } {
  const child = spawn('tar', [
    '-x', '--numeric-owner', '-p', '--xattrs', "--xattrs-include=*",
    // A layer must not set overlayfs' own xattrs (redirects, opaque) behind our back.
    '--xattrs-exclude=trusted.overlay.*',
    // Whiteouts are created below in overlayfs form instead of as files.
    '--exclude=.wh.*',
    '-C', dir, '-f', '-',
  ], { stdio: ['pipe', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr = (stderr + d).slice(-4096) })
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (e) => reject(new HangarError('unavailable', `GNU tar could not be started: ${e.message}`, { cause: e })))
    child.on('close', (code) => (code === 0 ? resolve() : reject(new HangarError('internal', `tar failed to unpack the layer (exit ${code}): ${stderr.trim()}`))))
  })
  done.catch(() => {})
  return { stdin: child.stdin, done, kill: () => void child.kill() }
}

/**
 * The directory `rel` names inside `root`, made of real directories only. GNU
 * tar may have left symlinks anywhere in the tree (a layer can declare `x -> /`
 * after `x/.wh.etc`, or hide entries from the first parser), so every component
 * is checked with lstat and never followed: a whiteout must not reach the host.
 */
async function realDirBeneath(root: string, rel: string[]): Promise<string> {
  let dir = root
  for (const part of rel) {
    if (part === '' || part === '.' || part === '..') throw hostile(rel.join('/'))
    dir = join(dir, part)
    const st = await lstat(dir).catch(() => null)
    if (!st) await mkdir(dir)
    else if (!st.isDirectory()) throw hostile(rel.join('/'))
  }
  return dir
}

function hostile(path: string): HangarError {
  return new HangarError('invalid_argument', `layer whiteout or opaque marker at ${path} goes through a symlink or a non-directory`, {
    hint: 'the image is malformed or hostile; rebuild it',
    details: { entry: path },
  })
}

/** `.wh.x` → character device 0/0 named x; `.wh..wh..opq` → trusted.overlay.opaque=y. Nothing outside `dir` is touched. */
async function applyWhiteouts(dir: string, check: LayerCheck): Promise<void> {
  for (const w of check.whiteouts) {
    const parts = w.split('/').filter((p) => p !== '')
    const name = parts.pop()
    if (!name || name === '.' || name === '..') throw hostile(w)
    const path = join(await realDirBeneath(dir, parts), name)
    // rm of a symlink removes the link itself; a recursive rm never follows links inside.
    await rm(path, { recursive: true, force: true })
    await run('mknod', ['-m', '0', path, 'c', '0', '0'])
  }
  if (check.opaque.length === 0) return
  const dirs: string[] = []
  for (const d of check.opaque) dirs.push(await realDirBeneath(dir, d.split('/').filter((p) => p !== '')))
  try {
    await run('setfattr', ['-h', '-n', 'trusted.overlay.opaque', '-v', 'y', ...dirs])
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new HangarError('unavailable', 'setfattr is missing (Debian package attr); it marks opaque directories', { cause: e })
    throw new HangarError('internal', `setting the opaque xattr failed: ${(e as Error).message}`, { cause: e })
  }
}

function randomId(): string {
  let id = ''
  for (const b of randomBytes(12)) id += idAlphabet[b % idAlphabet.length]
  return id
}
