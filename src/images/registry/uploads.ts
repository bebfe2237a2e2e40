/**
 * Blob uploads: POST starts one (or, with ?digest=, uploads the whole blob at
 * once; with ?mount=&from=, links a blob the registry already has), PATCH
 * appends a chunk in order, PUT ?digest= finishes, GET reports progress,
 * DELETE cancels. The bytes go through one content-store BlobWriter per upload,
 * hashed as they arrive, so nothing is visible under a digest until PUT checks
 * it, and a mismatched or abandoned upload leaves nothing behind.
 */
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { finished } from 'node:stream/promises'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import { isHangarError } from '../../errors.ts'
import type { BlobWriter, ContentStore } from '../content-store.ts'
import { notePushed } from '../gc.ts'
import { RegistryError } from './errors.ts'
import { checkDigest, type Body, type RegistryCtx } from './paths.ts'

/** An upload nobody touched for this long is dropped (its file goes with it). */
const idleMs = 60 * 60 * 1000

interface Upload {
  id: string
  name: string
  writer: BlobWriter
  /** Bytes handed to the writer so far: the next chunk must start here. */
  offset: number
  touched: number
  /** A request is writing; a second one at the same time is out of order by definition. */
  busy: boolean
}

/** Upload sessions open at once, across repositories. */
const maxUploads = 256

export class Uploads {
  #content: ContentStore
  #all = new Map<string, Upload>()

  constructor(content: ContentStore) {
    this.#content = content
  }

  start(name: string): Upload {
    const now = Date.now()
    for (const u of this.#all.values()) if (!u.busy && now - u.touched > idleMs) void this.cancel(u)
    // Each session holds a file descriptor: a loop of POSTs must not exhaust the daemon's.
    if (this.#all.size >= maxUploads) {
      throw new RegistryError('TOOMANYREQUESTS', `${maxUploads} uploads are open; finish or cancel some (DELETE …/blobs/uploads/<id>) or wait for idle ones to expire`, null)
    }
    const u: Upload = { id: randomUUID(), name, writer: this.#content.writeStream(), offset: 0, touched: now, busy: false }
    this.#all.set(u.id, u)
    return u
  }

  get(name: string, id: string): Upload {
    const u = this.#all.get(id)
    if (!u || u.name !== name) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${id} is unknown (finished, cancelled or expired)`, { uuid: id })
    u.touched = Date.now()
    return u
  }

  async cancel(u: Upload): Promise<void> {
    this.#all.delete(u.id)
    await u.writer.abort()
  }

  /** Aborts every upload (daemon shutdown). */
  async close(): Promise<void> {
    await Promise.all([...this.#all.values()].map((u) => this.cancel(u)))
  }

  forget(u: Upload): void {
    this.#all.delete(u.id)
  }
}

const location = (u: Upload): string => `/v2/${u.name}/blobs/uploads/${u.id}`
// The spec's progress header: inclusive range of what was received, 0-0 before the first byte.
const progress = (u: Upload): Record<string, string> => ({
  location: location(u), range: `0-${Math.max(0, u.offset - 1)}`, 'docker-upload-uuid': u.id, 'blob-upload-session-id': u.id, 'content-length': '0',
})
const created = (name: string, digest: string): Response =>
  new Response(null, { status: 201, headers: { location: `/v2/${name}/blobs/${digest}`, 'docker-content-digest': digest, 'content-length': '0' } })

/** POST /v2/<name>/blobs/uploads/ */
export async function startUpload(ctx: RegistryCtx, name: string, q: { digest?: string; mount?: string; from?: string }, body: Body): Promise<Response> {
  if (q.mount !== undefined) {
    // One store holds every repository's blobs: a known blob mounts from anywhere. Otherwise fall back to an upload.
    const digest = checkDigest(q.mount)
    if (await ctx.content.has(digest)) {
      notePushed(ctx.content, digest)
      return created(name, digest)
    }
  } else if (q.digest !== undefined) {
    const digest = checkDigest(q.digest)
    const w = ctx.content.writeStream(digest)
    try {
      await pipeline(body ?? Readable.from([]), w)
    } catch (e) {
      await w.abort()
      throw asDigestError(e, digest)
    }
    await w.commit()
    notePushed(ctx.content, digest)
    return created(name, digest)
  }
  const u = ctx.uploads.start(name)
  return new Response(null, { status: 202, headers: progress(u) })
}

/** GET /v2/<name>/blobs/uploads/<id> */
export function uploadStatus(ctx: RegistryCtx, name: string, id: string): Response {
  return new Response(null, { status: 204, headers: progress(ctx.uploads.get(name, id)) })
}

/** PATCH /v2/<name>/blobs/uploads/<id>: appends; a Content-Range not starting at the offset is a 416. */
export async function patchUpload(ctx: RegistryCtx, name: string, id: string, contentRange: string | undefined, body: Body): Promise<Response> {
  const u = ctx.uploads.get(name, id)
  await append(u, contentRange, body)
  return new Response(null, { status: 202, headers: progress(u) })
}

/** PUT /v2/<name>/blobs/uploads/<id>?digest=: the last chunk (optional), then verify and publish. */
export async function finishUpload(ctx: RegistryCtx, name: string, id: string, digestParam: string | undefined, contentRange: string | undefined, body: Body): Promise<Response> {
  const u = ctx.uploads.get(name, id)
  const digest = checkDigest(digestParam)
  await append(u, contentRange, body)
  ctx.uploads.forget(u)
  try {
    u.writer.end()
    await finished(u.writer)
  } catch (e) {
    await u.writer.abort()
    throw e
  }
  if (u.writer.digest !== digest) {
    await u.writer.abort()
    throw new RegistryError('DIGEST_INVALID', `the uploaded content is ${u.writer.digest}, not ${digest}; the upload is discarded`, { digest, actual: u.writer.digest })
  }
  await u.writer.commit()
  notePushed(ctx.content, digest)
  return created(name, digest)
}

/** DELETE /v2/<name>/blobs/uploads/<id> */
export async function cancelUpload(ctx: RegistryCtx, name: string, id: string): Promise<Response> {
  await ctx.uploads.cancel(ctx.uploads.get(name, id))
  return new Response(null, { status: 204 })
}

async function append(u: Upload, contentRange: string | undefined, body: Body): Promise<void> {
  if (contentRange !== undefined) {
    const m = /^(?:bytes )?(\d+)-(\d+)$/.exec(contentRange.trim())
    if (!m || Number(m[1]) !== u.offset || Number(m[2]) < Number(m[1])) {
      throw new RegistryError('BLOB_UPLOAD_INVALID', `chunk ${contentRange} does not start at ${u.offset}, the next byte expected`, { offset: u.offset }, { status: 416, headers: progress(u) })
    }
  }
  if (!body) return
  if (u.busy) throw new RegistryError('BLOB_UPLOAD_INVALID', 'another chunk of this upload is still arriving', null, { status: 416, headers: progress(u) })
  u.busy = true
  try {
    for await (const chunk of body) {
      u.offset += chunk.length
      if (!u.writer.write(chunk)) await once(u.writer, 'drain')
    }
  } finally {
    u.busy = false
    u.touched = Date.now()
  }
}

/** The content store's size/digest mismatch, as the spec's code. */
function asDigestError(e: unknown, digest: string): unknown {
  if (isHangarError(e) && e.code === 'invalid_argument') return new RegistryError('DIGEST_INVALID', e.message, { digest })
  return e
}
