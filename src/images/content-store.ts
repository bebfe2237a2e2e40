/**
 * A content-addressed blob store laid out as an OCI image layout:
 * `<root>/blobs/sha256/<hex>`, plus `<root>/ingest/` for writes in progress.
 * A blob is written under ingest, fsynced, and renamed into blobs/ only once
 * its size and sha256 match what was expected, so a half-written or corrupt
 * blob is never visible under its digest (containerd's content store shape).
 *
 *   const w = store.writeStream(desc.digest, desc.size)
 *   await pipeline(source, w)   // rejects on a size or digest mismatch
 *   await w.commit()
 */
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, type ReadStream } from 'node:fs'
import { lstat, mkdir, mkdtemp, open, readdir, readFile, rename, rm, writeFile, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { HangarError } from '../errors.ts'
import { isDigest } from './ref.ts'
import { StoreLock } from './store-lock.ts'

/** A verified blob waiting in ingest/: commit() makes it visible, abort() throws it away. */
export interface StagedBlob {
  readonly digest: string
  readonly size: number
  commit(): Promise<void>
  abort(): Promise<void>
}

export class ContentStore {
  readonly root: string
  readonly ingestDir: string
  /** Held shared by whatever adds to the store, exclusive by gc (store-lock.ts). */
  readonly lock = new StoreLock()
  #blobDir: string

  private constructor(root: string) {
    this.root = root
    this.ingestDir = join(root, 'ingest')
    this.#blobDir = join(root, 'blobs', 'sha256')
  }

  /** Creates the layout (oci-layout marker, blobs/, ingest/) when missing. */
  static async open(root: string): Promise<ContentStore> {
    const s = new ContentStore(root)
    await mkdir(s.#blobDir, { recursive: true })
    await mkdir(s.ingestDir, { recursive: true })
    await writeFile(join(root, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}\n', { flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e
    })
    return s
  }

  path(digest: string): string {
    if (!isDigest(digest)) throw new HangarError('invalid_argument', `"${digest}" is not a sha256 digest`)
    return join(this.#blobDir, digest.slice('sha256:'.length))
  }

  async has(digest: string): Promise<boolean> {
    return lstat(this.path(digest)).then((s) => s.isFile(), () => false)
  }

  async read(digest: string): Promise<Buffer> {
    try {
      return await readFile(this.path(digest))
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new HangarError('image_not_found', `blob ${digest} is not in the store`, { cause: e })
      throw e
    }
  }

  createReadStream(digest: string): ReadStream {
    return createReadStream(this.path(digest))
  }

  /** A writable that hashes what it is given; finishing verifies, commit() publishes. */
  writeStream(expectedDigest?: string, expectedSize?: number): BlobWriter {
    if (expectedDigest !== undefined) this.path(expectedDigest)
    return new BlobWriter(this, join(this.ingestDir, `blob-${randomBytes(8).toString('hex')}`), expectedDigest, expectedSize)
  }

  /** Writes a whole blob and publishes it; returns its digest. */
  async putBytes(bytes: Buffer | string, expectedDigest?: string): Promise<{ digest: string; size: number }> {
    const w = this.writeStream(expectedDigest)
    await pipeline([Buffer.from(bytes)], w)
    await w.commit()
    return { digest: w.digest, size: w.size }
  }

  /** Verifies a file already inside ingest/ (same filesystem) and stages it without copying. */
  async adopt(file: string, expectedDigest?: string, expectedSize?: number): Promise<StagedBlob> {
    const st = await lstat(file)
    if (!st.isFile()) throw new HangarError('invalid_argument', `${file} is not a regular file`)
    const hash = createHash('sha256')
    await pipeline(createReadStream(file), hash)
    const digest = `sha256:${hash.digest('hex')}`
    try {
      verify(digest, st.size, expectedDigest, expectedSize)
    } catch (e) {
      await rm(file, { force: true })
      throw e
    }
    return { digest, size: st.size, commit: () => this.publish(file, digest), abort: () => rm(file, { force: true }) }
  }

  /** A fresh directory under ingest/, for staging an archive or unpacking a layer. */
  tempDir(prefix: string): Promise<string> {
    return mkdtemp(join(this.ingestDir, `${prefix}-`))
  }

  async delete(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true })
  }

  /** Every blob's digest, in no particular order. */
  async list(): Promise<string[]> {
    return (await readdir(this.#blobDir)).filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`)
  }

  /** Renames a verified file into place and makes the rename durable; never while gc sweeps. */
  publish(file: string, digest: string): Promise<void> {
    return this.lock.shared(async () => {
      await rename(file, this.path(digest))
      const dir = await open(this.#blobDir, 'r')
      await dir.sync().finally(() => dir.close())
    })
  }
}

function verify(digest: string, size: number, expectedDigest?: string, expectedSize?: number): void {
  if (expectedSize !== undefined && size !== expectedSize) {
    throw new HangarError('invalid_argument', `blob ${expectedDigest ?? digest} has ${size} bytes, expected ${expectedSize}`)
  }
  if (expectedDigest !== undefined && digest !== expectedDigest) {
    throw new HangarError('invalid_argument', `blob digest mismatch: expected ${expectedDigest}, content is ${digest}`)
  }
}

/** writev until every byte is down: a short write (a signal, a full disk's last bytes) resumes where it stopped. */
async function writevAll(fh: FileHandle, bufs: Buffer[]): Promise<void> {
  // IOV_MAX is 1024 on Linux; stay well under it.
  for (let i = 0; i < bufs.length; i += 512) {
    const part = bufs.slice(i, i + 512)
    let want = 0
    for (const b of part) want += b.length
    let { bytesWritten } = await fh.writev(part)
    while (bytesWritten < want) {
      const rest = Buffer.concat(part).subarray(bytesWritten)
      bytesWritten += (await fh.write(rest)).bytesWritten
    }
  }
}

export class BlobWriter extends Writable implements StagedBlob {
  #store: ContentStore
  #tmp: string
  #expectedDigest: string | undefined
  #expectedSize: number | undefined
  #hash = createHash('sha256')
  #fh: FileHandle | null = null
  #size = 0
  #digest = ''
  #verified = false

  constructor(store: ContentStore, tmp: string, expectedDigest?: string, expectedSize?: number) {
    // A deeper buffer lets _writev batch while a write is in flight instead of pausing the sender every 16 KiB.
    super({ highWaterMark: 4 << 20 })
    this.#store = store
    this.#tmp = tmp
    this.#expectedDigest = expectedDigest
    this.#expectedSize = expectedSize
  }

  get digest(): string {
    return this.#digest
  }

  get size(): number {
    return this.#size
  }

  override _construct(cb: (e?: Error | null) => void): void {
    open(this.#tmp, 'wx', 0o644).then((fh) => { this.#fh = fh; cb() }, cb)
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.#size += chunk.length
    // Fail early rather than fill the disk with an oversized blob.
    if (this.#expectedSize !== undefined && this.#size > this.#expectedSize) {
      cb(new HangarError('invalid_argument', `blob ${this.#expectedDigest ?? ''} is larger than the expected ${this.#expectedSize} bytes`))
      return
    }
    this.#hash.update(chunk)
    this.#fh!.write(chunk).then(() => cb(), cb)
  }

  /**
   * Chunks that queued up while a write was in flight go down in one writev (64 KiB at a time would be a
   * thread-pool round trip each), without copying them into one buffer first.
   */
  override _writev(chunks: { chunk: Buffer }[], cb: (e?: Error | null) => void): void {
    if (chunks.length === 1) return this._write(chunks[0]!.chunk, 'binary', cb)
    const bufs = chunks.map((c) => c.chunk)
    let bytes = 0
    for (const b of bufs) bytes += b.length
    this.#size += bytes
    if (this.#expectedSize !== undefined && this.#size > this.#expectedSize) {
      cb(new HangarError('invalid_argument', `blob ${this.#expectedDigest ?? ''} is larger than the expected ${this.#expectedSize} bytes`))
      return
    }
    for (const b of bufs) this.#hash.update(b)
    writevAll(this.#fh!, bufs).then(() => cb(), cb)
  }

  override _final(cb: (e?: Error | null) => void): void {
    const fh = this.#fh!
    this.#digest = `sha256:${this.#hash.digest('hex')}`
    fh.sync().then(() => fh.close()).then(() => {
      this.#fh = null
      verify(this.#digest, this.#size, this.#expectedDigest, this.#expectedSize)
      this.#verified = true
    }).then(() => cb(), cb)
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    const fh = this.#fh
    this.#fh = null
    const closed = fh ? fh.close().catch(() => {}) : Promise.resolve()
    // A failed write leaves nothing behind in ingest/.
    closed.then(() => (err ? rm(this.#tmp, { force: true }) : undefined)).then(() => cb(err), () => cb(err))
  }

  async commit(): Promise<void> {
    if (!this.#verified) throw new HangarError('internal', 'blob writer committed before it finished')
    await this.#store.publish(this.#tmp, this.#digest)
  }

  async abort(): Promise<void> {
    this.destroy()
    await rm(this.#tmp, { force: true })
  }
}
