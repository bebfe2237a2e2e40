/**
 * One import as a transaction: every blob an image needs is verified and
 * staged in ingest/ first, and only when all of them check out does commit()
 * publish them. abort() leaves the store as it was.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { posix, resolve as resolvePath } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { HangarError } from '../errors.ts'
import type { ContentStore, StagedBlob } from './content-store.ts'
import type { Descriptor } from './oci.ts'

/** Manifests, configs and indexes are small; anything bigger is not one. */
const maxDocumentBytes = 4 << 20

/** Where an import reads from: a directory, either the user's own or one we extracted an archive into. */
export interface ImportSource {
  dir: string
  /** True when `dir` is our staging copy under ingest/, so files may be renamed into the store. */
  owned: boolean
  /** Symlinks recorded (not extracted) from an archive, archive path → link target. */
  links: Map<string, string>
}

/** An image found in the source: its manifest and the names the source gives it. */
export interface FoundImage {
  names: string[]
  manifest: { digest: string; size: number; mediaType: string }
}

export class ImportPlan {
  readonly source: ImportSource
  readonly images: FoundImage[] = []
  #store: ContentStore
  #staged = new Map<string, StagedBlob>()
  /** Source files already hashed: docker save links one layer file under several names. */
  #byPath = new Map<string, { digest: string; size: number }>()

  constructor(store: ContentStore, source: ImportSource) {
    this.#store = store
    this.source = source
  }

  /** Absolute path of an archive member, following recorded symlinks but never out of the source. */
  file(rel: string): string {
    let p = clean(rel)
    for (let hops = 0; this.source.links.has(p); hops++) {
      if (hops > 16) throw new HangarError('invalid_argument', `too many symlinks resolving ${rel} in the archive`)
      const target = this.source.links.get(p)!
      p = clean(target.startsWith('/') ? target : posix.join(posix.dirname(p), target))
    }
    return resolvePath(this.source.dir, p)
  }

  /** Reads a small document named by a descriptor, checks its digest and size, and stages it. */
  async readDocument(desc: Pick<Descriptor, 'digest' | 'size'>, rel = blobPath(desc.digest)): Promise<Buffer> {
    if (desc.size > maxDocumentBytes) throw new HangarError('invalid_argument', `${rel} is ${desc.size} bytes, too big for a manifest or config`)
    const bytes = await readSmall(this.file(rel))
    await this.stageBytes(bytes, desc.digest)
    return bytes
  }

  /** Stages bytes we made or read (a config, a converted manifest); returns their digest. */
  async stageBytes(bytes: Buffer, expectedDigest?: string): Promise<{ digest: string; size: number }> {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
    if (expectedDigest !== undefined && digest !== expectedDigest) {
      throw new HangarError('invalid_argument', `blob digest mismatch: expected ${expectedDigest}, content is ${digest}`)
    }
    if (!this.#staged.has(digest) && !(await this.#store.has(digest))) {
      const w = this.#store.writeStream(digest, bytes.length)
      await pipeline([bytes], w)
      this.#staged.set(digest, w)
    }
    return { digest, size: bytes.length }
  }

  /** Stages a (possibly large) file, verifying it when the digest is known; returns what it hashed to. */
  async stageFile(rel: string, expected?: Pick<Descriptor, 'digest' | 'size'>): Promise<{ digest: string; size: number }> {
    if (expected && (this.#staged.has(expected.digest) || (await this.#store.has(expected.digest)))) return expected
    const path = this.file(rel)
    const seen = this.#byPath.get(path)
    if (seen) return seen
    let staged: StagedBlob
    if (this.source.owned) {
      staged = await this.#store.adopt(path, expected?.digest, expected?.size)
    } else {
      const w = this.#store.writeStream(expected?.digest, expected?.size)
      await pipeline(createReadStream(path), w)
      staged = w
    }
    // The same content under two names (docker save does this): keep one copy.
    if (this.#staged.has(staged.digest) || (await this.#store.has(staged.digest))) await staged.abort()
    else this.#staged.set(staged.digest, staged)
    const result = { digest: staged.digest, size: staged.size }
    this.#byPath.set(path, result)
    return result
  }

  async commit(): Promise<void> {
    for (const s of this.#staged.values()) await s.commit()
    this.#staged.clear()
  }

  async abort(): Promise<void> {
    await Promise.allSettled([...this.#staged.values()].map((s) => s.abort()))
    this.#staged.clear()
  }
}

export function blobPath(digest: string): string {
  const [alg, hex] = digest.split(':')
  return `blobs/${alg}/${hex}`
}

/** A relative archive path with "./" and "a/../" folded away; rejects anything that leaves the archive. */
function clean(rel: string): string {
  const p = posix.normalize(rel.replace(/^\/+/, ''))
  if (p === '..' || p.startsWith('../')) throw new HangarError('invalid_argument', `archive path ${rel} points outside the archive`)
  return p
}

async function readSmall(path: string): Promise<Buffer> {
  const fh = await open(path, 'r').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') throw new HangarError('invalid_argument', `the archive has no ${path}`, { cause: e })
    throw e
  })
  try {
    const st = await fh.stat()
    if (!st.isFile() || st.size > maxDocumentBytes) throw new HangarError('invalid_argument', `${path} is not a small regular file`)
    return await fh.readFile()
  } finally {
    await fh.close()
  }
}
