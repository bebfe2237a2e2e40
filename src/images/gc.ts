/**
 * Garbage collection of the image store: mark and sweep under the store's
 * exclusive lock (store-lock.ts), so no import, pull, unpack or push adds to
 * the store or comes to rely on a blob between the mark and the sweep.
 *
 * Roots: every tag in index.json, plus what the caller says machines use
 * (manifest digests, mounted layer directories). Marked: an index's manifests,
 * a manifest's config and layers. Swept: unmarked blobs (none written after gc
 * began), unpacked layers whose blob is unmarked and which no machine mounts,
 * layer directories no digest link maps to, and ingest/ entries untouched for
 * an hour (a live upload touches its file; a pull or import holds the lock).
 *
 * A layer leaves in two steps under the lock: its digest link goes, then its
 * directory is renamed into ingest/gc-…, so a lookup never finds a half-deleted
 * layer under its real name. The slow rm -rf runs after the lock is released.
 *
 *   const r = await collectGarbage(content, tags, layers, { inUse: () => ({ manifests: ['sha256:…'] }) })
 */
import { randomBytes } from 'node:crypto'
import { lstat, readdir, rename, rm, unlink } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { ContentStore } from './content-store.ts'
import { isDigest } from './ref.ts'
import type { TagIndex } from './tag-index.ts'
import type { GcOptions, GcResult } from './types.ts'
import type { LayerCache } from './unpack.ts'

/** Ingest entries untouched this long belong to nobody: uploads expire after the same hour. */
export const staleIngestMs = 60 * 60 * 1000
/** Manifests and indexes are small; a bigger blob is not one, and is not parsed. */
const maxDocumentBytes = 4 << 20
const trashPrefix = 'gc-'

/**
 * Blobs pushed to /v2 lately, not yet named by a manifest: a client uploads every
 * layer first and PUTs the manifest seconds or minutes later, so gc must leave
 * them for an hour (the upload expiry) rather than collect a push in flight.
 */
const pushed = new WeakMap<ContentStore, Map<string, number>>()

export function notePushed(content: ContentStore, digest: string): void {
  let m = pushed.get(content)
  if (!m) pushed.set(content, (m = new Map()))
  m.set(digest, Date.now())
}

function pushedLately(content: ContentStore, digest: string, now: number): boolean {
  const m = pushed.get(content)
  const at = m?.get(digest)
  if (at === undefined) return false
  if (now - at < staleIngestMs) return true
  m!.delete(digest)
  return false
}

/** Trash an earlier gc of this process is still removing: not a crash leftover to remove twice. */
const removing = new WeakMap<ContentStore, Set<string>>()

export async function collectGarbage(content: ContentStore, tags: TagIndex, layers: LayerCache, opts: GcOptions = {}): Promise<GcResult & { removed: string[] }> {
  const started = Date.now()
  let busy = removing.get(content)
  if (!busy) removing.set(content, (busy = new Set()))
  const trash: string[] = []
  const toTrash = async (path: string): Promise<void> => {
    const t = join(content.ingestDir, `${trashPrefix}${randomBytes(8).toString('hex')}`)
    await rename(path, t)
    trash.push(t)
  }

  const swept = await content.lock.exclusive(async () => {
    // Asked only now: a machine created while gc waited for the lock is in it.
    const inUse = (await opts.inUse?.()) ?? {}
    // Ingest first, before this run adds its own trash there.
    for (const name of await readdir(content.ingestDir)) {
      const path = join(content.ingestDir, name)
      if (name.startsWith(trashPrefix)) {
        if (!busy.has(path)) trash.push(path) // a crash interrupted its removal
        continue
      }
      const st = await lstat(path).catch(() => null)
      if (st && started - st.mtimeMs > staleIngestMs) await toTrash(path)
    }

    const marked = new Set<string>()
    for (const d of await tags.entries()) await mark(content, d.digest, marked, 0)
    for (const d of inUse.manifests ?? []) if (isDigest(d)) await mark(content, d, marked, 0)
    const usedDirs = new Set([...(inUse.layerDirs ?? [])].map((d) => resolve(d)))

    const dirs = new Set(await layers.dirs())
    const kept = new Set<string>()
    for (const e of await layers.entries()) {
      // A machine's layer keeps its blob too, so the store stays whole.
      if (usedDirs.has(e.dir)) marked.add(e.digest)
      if (marked.has(e.digest) && dirs.has(e.dir)) kept.add(e.dir)
      // The link goes first: a crash after it leaves an unmapped directory, which the next gc sweeps.
      else await unlink(e.link)
    }
    let layersRemoved = 0
    for (const dir of dirs) {
      if (kept.has(dir) || usedDirs.has(dir)) continue
      await toTrash(dir)
      layersRemoved++
    }

    let blobsRemoved = 0
    let bytesFreed = 0
    const removed: string[] = []
    for (const digest of await content.list()) {
      if (marked.has(digest) || pushedLately(content, digest, started)) continue
      const st = await lstat(content.path(digest)).catch(() => null)
      // Written since gc began (by something that did not take the lock): not ours to judge.
      if (!st || st.mtimeMs >= started) continue
      await content.delete(digest)
      blobsRemoved++
      bytesFreed += st.size
      removed.push(digest)
    }
    for (const t of trash) busy.add(t)
    return { blobsRemoved, bytesFreed, layersRemoved, removed }
  })

  // Outside the lock: nothing can find these any more. A failure leaves them for the next gc.
  for (const t of trash) {
    swept.bytesFreed += await diskBytes(t)
    await rm(t, { recursive: true, force: true }).catch(() => {})
    busy.delete(t)
  }
  return swept
}

/** Marks a document and, for an index or manifest, what it names. A missing blob is marked all the same, so its unpacked layer stays. */
async function mark(content: ContentStore, digest: string, marked: Set<string>, depth: number): Promise<void> {
  if (marked.has(digest)) return
  marked.add(digest)
  const st = await lstat(content.path(digest)).catch(() => null)
  if (!st?.isFile() || st.size > maxDocumentBytes || depth > 4) return
  let doc: unknown
  try {
    doc = JSON.parse((await content.read(digest)).toString())
  } catch {
    return // not JSON: a blob someone tagged, kept as it is
  }
  if (typeof doc !== 'object' || doc === null) return
  const { manifests, config, layers } = doc as { manifests?: unknown; config?: unknown; layers?: unknown }
  for (const m of Array.isArray(manifests) ? manifests : []) {
    const d = digestOf(m)
    if (d) await mark(content, d, marked, depth + 1)
  }
  for (const b of [config, ...(Array.isArray(layers) ? layers : [])]) {
    const d = digestOf(b)
    if (d) marked.add(d)
  }
}

function digestOf(desc: unknown): string | null {
  const d = (desc as { digest?: unknown } | null)?.digest
  return typeof d === 'string' && isDigest(d) ? d : null
}

/** Bytes of the regular files under `path`, each hard-linked file once. */
async function diskBytes(path: string): Promise<number> {
  const top = await lstat(path).catch(() => null)
  if (!top) return 0
  if (!top.isDirectory()) return top.size
  const seen = new Set<number>()
  let n = 0
  for (const rel of await readdir(path, { recursive: true }).catch(() => [] as string[])) {
    const st = await lstat(join(path, rel)).catch(() => null)
    if (!st?.isFile() || seen.has(st.ino)) continue
    seen.add(st.ino)
    n += st.size
  }
  return n
}
