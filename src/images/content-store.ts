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
import { Worker } from 'node:worker_threads'
import { pipeline } from 'node:stream/promises'
import { HangarError } from '../errors.ts'
import { isDigest } from './ref.ts'
import { StoreLock } from './store-lock.ts'

/** Manifests, indexes and image configs are small; 8 MiB leaves room for configs with long histories. */
export const maxDocumentBytes = 8 << 20

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

  /**
   * A whole blob in memory: for documents (manifests, indexes, configs) only, so
   * anything over `maxBytes` is refused before it is read: a digest a client
   * chose must not make the daemon load a multi-GB layer.
   */
  async read(digest: string, maxBytes = maxDocumentBytes): Promise<Buffer> {
    try {
      const size = (await lstat(this.path(digest))).size
      if (size > maxBytes) throw new HangarError('invalid_argument', `blob ${digest} is ${size} bytes, not a document (at most ${maxBytes})`, { details: { digest, size } })
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

/**
 * Bytes per write(2) of a blob. Bigger writes get the page cache bigger folios, and filling those
 * measured several times slower on the VM Hangar is benchmarked on (dd of 1 GiB after a few idle
 * seconds: 1.5–1.8 s in 1 MiB writes, 0.3–0.4 s in 64–128 KiB writes).
 */
const writePieceBytes = 128 << 10

/**
 * The thread that hashes and writes blob bytes, so the event loop that parses requests only copies them
 * over: sha256 of a big layer is otherwise most of a push's main-thread CPU. One worker serves every
 * writer. It hashes a buffer as it arrives and hands the write to the threadpool, so the next buffer
 * is hashed while this one goes into the page cache (filling it costs about as much as the hash). A
 * job's writes run one after another and each reply is sent once its write is done, so a job's
 * replies come back in the order it sent them, and 'end' or 'drop' is answered after its last write.
 */
const workerSource = `
const { parentPort } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const { write } = require('node:fs')
const jobs = new Map()
const piece = ${writePieceBytes}
const writeAt = (fd, b, pos) => new Promise((resolve, reject) => {
  const step = (off) => {
    if (off === b.length) return resolve()
    write(fd, b, off, Math.min(piece, b.length - off), pos + off, (e, n) => (e ? reject(e) : step(off + n)))
  }
  step(0)
})
parentPort.on('message', (m) => {
  if (m.op === 'open') { jobs.set(m.id, { hash: createHash('sha256'), fd: m.fd, err: null, pos: 0, last: Promise.resolve() }); return }
  const j = jobs.get(m.id)
  if (!j) { parentPort.postMessage({ id: m.id, err: 'unknown blob job' }); return }
  const fail = (e) => { j.err ??= String(e && e.message || e) }
  if (m.op === 'write') {
    const b = new Uint8Array(m.buf)
    const pos = j.pos
    j.pos += b.length
    if (!j.err) try { j.hash.update(b) } catch (e) { fail(e) }
    j.last = j.last.then(() => (j.err ? undefined : writeAt(j.fd, b, pos).catch(fail))).then(() => parentPort.postMessage({ id: m.id, err: j.err }))
  } else {
    jobs.delete(m.id)
    // Every update is in (they run as messages arrive); the reply waits for the writes.
    const digest = m.op === 'end' && !j.err ? j.hash.digest('hex') : undefined
    j.last.then(() => parentPort.postMessage({ id: m.id, err: j.err, digest: j.err ? undefined : digest }))
  }
})
`

interface Reply {
  err: string | null
  digest?: string
}

class BlobThread {
  #worker: Worker | null = null
  #waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }[]>()
  #pending = 0
  #next = 0

  /** A new job writing to `fd`; its id. */
  open(fd: number): number {
    const id = ++this.#next
    this.#waiting.set(id, [])
    this.#ensure().postMessage({ op: 'open', id, fd })
    return id
  }

  write(id: number, buf: ArrayBuffer): Promise<Reply> {
    return this.#send(id, { op: 'write', id, buf }, [buf])
  }

  /** Every earlier write is done; the job's digest. */
  end(id: number): Promise<Reply> {
    return this.#send(id, { op: 'end', id }, []).finally(() => this.#waiting.delete(id))
  }

  /** Every earlier write is done (so the fd may be closed); the job is forgotten. */
  drop(id: number): Promise<Reply> {
    return this.#send(id, { op: 'drop', id }, []).finally(() => this.#waiting.delete(id))
  }

  #send(id: number, msg: object, transfer: ArrayBuffer[]): Promise<Reply> {
    const q = this.#waiting.get(id)
    if (!q || !this.#worker) return Promise.reject(new HangarError('internal', 'the blob writer thread is gone'))
    return new Promise<Reply>((resolve, reject) => {
      q.push({ resolve, reject })
      // Referenced only while something waits on it: an idle worker must not keep the process alive.
      if (this.#pending++ === 0) this.#worker!.ref()
      this.#worker!.postMessage(msg, transfer)
    })
  }

  #ensure(): Worker {
    if (this.#worker) return this.#worker
    const w = new Worker(workerSource, { eval: true })
    w.unref()
    w.on('message', (m: Reply & { id: number }) => {
      const waiter = this.#waiting.get(m.id)?.shift()
      if (--this.#pending === 0) w.unref()
      waiter?.resolve(m)
    })
    const fail = (e: unknown): void => {
      if (this.#worker !== w) return
      this.#worker = null
      this.#pending = 0
      const err = new HangarError('internal', `the blob writer thread failed: ${(e as Error)?.message ?? e}`)
      for (const q of this.#waiting.values()) for (const waiter of q.splice(0)) waiter.reject(err)
      this.#waiting.clear()
    }
    w.on('error', fail)
    w.on('exit', (code) => fail(new Error(`exited with ${code}`)))
    this.#worker = w
    return w
  }
}

const blobThread = new BlobThread()

/** Bytes handed to the writer thread and not yet written: the sender is held back beyond this. */
const windowBytes = 16 << 20

/**
 * Early writeback: once this many bytes more of a blob are written, an fdatasync starts on the
 * threadpool (one at a time per blob, and at most `maxEarlySyncs` across blobs, so the pool keeps
 * threads for everything else). The disk then writes the blob while it arrives instead of only
 * after its last byte, and the fsync that must come before the registry's 201 finds little left to
 * do (a 1 GiB push on a disk held to 400 MB/s: 3.1 s instead of 4.7). It is only a head start:
 * durability still comes from that fsync, after the last write.
 */
const earlySyncBytes = 32 << 20
const maxEarlySyncs = 2
let earlySyncs = 0

export class BlobWriter extends Writable implements StagedBlob {
  #store: ContentStore
  #tmp: string
  #expectedDigest: string | undefined
  #expectedSize: number | undefined
  #fh: FileHandle | null = null
  #job = 0
  #inFlight = 0
  #failed: Error | null = null
  /** A write's callback held back until the window has room (or an in-flight write failed). */
  #held: ((e?: Error | null) => void) | null = null
  #idle: (() => void)[] = []
  /** Bytes the thread has written, and how many of them an early sync has been started for. */
  #written = 0
  #syncedTo = 0
  #earlySync: Promise<void> | null = null
  /** The final fsync is under way: no early one starts any more. */
  #ending = false
  #size = 0
  #digest = ''
  #verified = false

  constructor(store: ContentStore, tmp: string, expectedDigest?: string, expectedSize?: number) {
    // A deeper buffer lets _writev batch while the thread works instead of pausing the sender every 16 KiB.
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
    open(this.#tmp, 'wx', 0o644).then((fh) => {
      this.#fh = fh
      this.#job = blobThread.open(fh.fd)
      cb()
    }, cb)
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this._writev([{ chunk }], cb)
  }

  /** Chunks that queued up go to the writer thread as one copy: the thread hashes it and writes it in one call. */
  override _writev(chunks: { chunk: Buffer }[], cb: (e?: Error | null) => void): void {
    if (this.#failed) return cb(this.#failed)
    let bytes = 0
    for (const c of chunks) bytes += c.chunk.length
    this.#size += bytes
    // Fail early rather than fill the disk with an oversized blob.
    if (this.#expectedSize !== undefined && this.#size > this.#expectedSize) {
      cb(new HangarError('invalid_argument', `blob ${this.#expectedDigest ?? ''} is larger than the expected ${this.#expectedSize} bytes`))
      return
    }
    if (bytes === 0) return cb()
    // One copy, into memory the thread then owns: the request's buffers stay with the HTTP parser.
    const copy = Buffer.allocUnsafeSlow(bytes)
    let off = 0
    for (const c of chunks) off += c.chunk.copy(copy, off)
    this.#inFlight += bytes
    blobThread.write(this.#job, copy.buffer as ArrayBuffer).then((r) => {
      if (r.err !== null && !this.#failed) this.#failed = new Error(`writing ${this.#tmp}: ${r.err}`)
      this.#written += bytes
      this.#startEarlySync()
    }, (e: Error) => {
      this.#failed ??= e
    }).finally(() => {
      this.#inFlight -= bytes
      const held = this.#held
      if (held && (this.#failed || this.#inFlight < windowBytes)) {
        this.#held = null
        held(this.#failed)
      }
      if (this.#inFlight === 0) for (const w of this.#idle.splice(0)) w()
    })
    if (this.#inFlight < windowBytes) cb()
    else this.#held = cb
  }

  #startEarlySync(): void {
    const fh = this.#fh
    if (!fh || this.#ending || this.#earlySync || this.#failed || this.#written - this.#syncedTo < earlySyncBytes || earlySyncs >= maxEarlySyncs) return
    earlySyncs++
    this.#syncedTo = this.#written
    // A failure here is not the blob's: the fsync before commit reports whatever really went wrong.
    this.#earlySync = fh.datasync().catch(() => {}).finally(() => {
      earlySyncs--
      this.#earlySync = null
      this.#startEarlySync()
    })
  }

  #drained(): Promise<void> {
    return this.#inFlight === 0 ? Promise.resolve() : new Promise((r) => this.#idle.push(r))
  }

  override _final(cb: (e?: Error | null) => void): void {
    const fh = this.#fh!
    this.#drained().then(() => {
      if (this.#failed) throw this.#failed
      const job = this.#job
      this.#job = 0
      return blobThread.end(job)
    }).then((r) => {
      if (r.err !== null || r.digest === undefined) throw new Error(`writing ${this.#tmp}: ${r.err ?? 'no digest'}`)
      this.#digest = `sha256:${r.digest}`
      // Durable at the end, as containerd does (the early syncs only start the disk sooner).
      this.#ending = true
      return this.#earlySync
    }).then(() => fh.sync()).then(() => fh.close()).then(() => {
      this.#fh = null
      verify(this.#digest, this.#size, this.#expectedDigest, this.#expectedSize)
      this.#verified = true
    }).then(() => cb(), cb)
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    const fh = this.#fh
    const job = this.#job
    const earlySync = this.#earlySync
    this.#fh = null
    this.#job = 0
    // The thread may still be writing to the fd, and an early sync using it: it is closed only once both let go.
    const released = Promise.all([job ? blobThread.drop(job).catch(() => {}) : undefined, earlySync])
    const closed = released.then(() => (fh ? fh.close().catch(() => {}) : undefined))
    // A failed write leaves nothing behind in ingest/.
    closed.then(() => (err ? rm(this.#tmp, { force: true }) : undefined)).then(() => cb(err), () => cb(err))
  }

  async commit(): Promise<void> {
    if (!this.#verified) throw new HangarError('internal', 'blob writer committed before it finished')
    await this.#store.publish(this.#tmp, this.#digest)
  }

  async abort(): Promise<void> {
    // Once the fd is closed (the writer thread done with it), so nothing writes after the file is gone.
    if (!this.closed) {
      const closed = new Promise((r) => this.once('close', r))
      this.destroy()
      await closed
    }
    await rm(this.#tmp, { force: true })
  }
}
