/**
 * Pushes a stored image to a remote registry, pull in reverse: for each blob
 * HEAD it, and upload what is missing (POST for an upload URL, then one PUT
 * of the whole blob with its digest), three blobs at a time; then, once every
 * blob is there, PUT the manifest under the tag. The first blob to fail stops
 * the others and is the error reported.
 * An image stored as an index goes up as its linux/amd64 manifest: the store
 * keeps only that platform, and a registry refuses an index whose parts it lacks.
 *
 *   await pushImage(store, 'test/busybox:1', '127.0.0.1:4280/robots/busybox:1', { credentials })
 */
import { stat } from 'node:fs/promises'
import { HangarError } from '../errors.ts'
import { indexSchema, isIndex, manifestSchema, mediaTypes, parseDocument } from './oci.ts'
import { formatRef, parseImageRef } from './ref.ts'
import { RemoteRepository, type RemoteOptions } from './remote.ts'
import type { ImageStore } from './types.ts'

export interface PushProgress {
  message: string
  digest?: string
  /** True when the registry already had the blob. */
  skipped?: boolean
}

export interface PushOptions extends RemoteOptions {
  onProgress?: (p: PushProgress) => void
}

export interface PushResult {
  /** Where it went, e.g. "127.0.0.1:4280/robots/busybox:1". */
  ref: string
  /** Digest of the manifest pushed. */
  digest: string
}

/** Blobs uploading at once. */
const blobConcurrency = 3

/** Pushes the local image `src` to `dest` (default: `src`, which must then name a registry). */
export async function pushImage(store: ImageStore, src: string, dest: string = src, opts: PushOptions = {}): Promise<PushResult> {
  const to = parseImageRef(dest)
  if (to.registry === null && !/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//.test(dest)) {
    throw new HangarError('invalid_image_ref', `"${dest}" names no registry to push to`, { hint: 'give a destination with a host, e.g. 127.0.0.1:4280/robots/busybox:1' })
  }
  if (to.tag === '') throw new HangarError('invalid_image_ref', `"${dest}" has no tag to push under`)
  const img = await store.resolve(src)
  if (store.own.has(to.registry)) return tagHere(store, img, dest)
  const say = opts.onProgress ?? (() => {})
  let digest = img.digest
  let bytes = await store.content.read(digest)
  let mediaType = typeOf(bytes)
  if (isIndex(mediaType)) {
    const child = parseDocument(indexSchema, bytes, `image index ${digest}`).manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64')
    if (!child) throw new HangarError('invalid_argument', `image ${src} has no linux/amd64 manifest`)
    digest = child.digest
    bytes = await store.content.read(digest)
    mediaType = typeOf(bytes)
  }
  const m = parseDocument(manifestSchema, bytes, `manifest ${digest}`)
  // The first blob that fails stops the others: their requests are aborted, and that first error is the one thrown.
  const stop = new AbortController()
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal
  const remote = new RemoteRepository(to, { ...opts, signal, targets: store.targets })
  const pushBlob = async (d: { digest: string; size: number }): Promise<void> => {
    const head = await remote.fetch('HEAD', `/blobs/${d.digest}`, { push: true })
    if (head.ok) {
      say({ message: `${d.digest.slice(0, 19)} already there`, digest: d.digest, skipped: true })
      return
    }
    if (head.status !== 404) throw await remote.failure(head, `HEAD blob ${d.digest}`)
    const start = await remote.fetch('POST', '/blobs/uploads/', { push: true })
    if (start.status !== 202 || !start.headers.get('location')) throw await remote.failure(start, `POST blob upload for ${d.digest}`)
    await start.body?.cancel()
    const session = new URL(start.headers.get('location')!, remote.base)
    const url = new URL(session)
    url.searchParams.set('digest', d.digest)
    const path = store.content.path(d.digest)
    try {
      // Streamed from disk in large reads, with its Content-Length, which some registries insist on.
      const put = await remote.sendFile('PUT', url.toString(), { path, size: (await stat(path)).size }, { push: true, headers: { 'content-type': 'application/octet-stream' } })
      if (put.status !== 201) throw await remote.failure(put, `PUT blob ${d.digest}`)
      await put.body?.cancel()
    } catch (e) {
      // An upload that failed or was aborted (another blob failed first) is cancelled, not left to expire.
      await remote.cancelUpload(session.toString())
      throw e
    }
    say({ message: `${d.digest.slice(0, 19)} pushed (${d.size} bytes)`, digest: d.digest })
  }
  // A digest listed twice goes up once.
  const blobs = [...new Map([m.config, ...m.layers].map((d) => [d.digest, d])).values()]
  const failure: { error?: unknown } = {}
  let next = 0
  // A few blobs at a time, as docker and containers/image push: one blob's transfer overlaps the registry
  // making the previous one durable.
  const lane = async (): Promise<void> => {
    while (!('error' in failure) && next < blobs.length) {
      const d = blobs[next++]!
      try {
        await pushBlob(d)
      } catch (e) {
        if (!('error' in failure)) {
          failure.error = e
          stop.abort()
        }
        return
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(blobConcurrency, blobs.length) }, lane))
  if ('error' in failure) throw failure.error
  const res = await remote.fetch('PUT', `/manifests/${to.tag}`, { push: true, body: new Uint8Array(bytes), headers: { 'content-type': mediaType } })
  if (res.status !== 201) throw await remote.failure(res, `PUT manifest ${remote.name}:${to.tag}`)
  await res.body?.cancel()
  const ref = formatRef({ ...to, digest: null })
  say({ message: `pushed ${ref} (${digest})`, digest })
  return { ref, digest }
}

function typeOf(bytes: Buffer): string {
  const doc = JSON.parse(bytes.toString()) as { mediaType?: string; manifests?: unknown }
  return doc.mediaType ?? (Array.isArray(doc.manifests) ? mediaTypes.index : mediaTypes.manifest)
}

/** Pushing to our own registry is a new local tag for the same manifest: nothing crosses a socket. */
async function tagHere(store: ImageStore, img: { digest: string }, dest: string): Promise<PushResult> {
  const bytes = await store.content.read(img.digest)
  const name = formatRef({ ...store.own.local(parseImageRef(dest)), digest: null })
  await store.tags.set(name, { digest: img.digest, size: bytes.length, mediaType: typeOf(bytes) })
  return { ref: dest, digest: img.digest }
}
