/**
 * Pulls an image from a remote registry into the store: the manifest (an
 * index resolves to its linux/amd64 manifest), then config and layers, each
 * downloaded into ingest/ and published only once its digest checks out, then
 * the tag. An interrupted layer resumes with a Range request from the bytes
 * already in ingest, on the next attempt or the next pull. opts.signal stops it: its
 * requests end, and nothing is tagged.
 *
 *   const img = await pullImage(store, '127.0.0.1:4280/test/busybox:1', { onProgress: (p) => log(p.message) })
 */
import { createHash } from 'node:crypto'
import { open, stat, truncate } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { HangarError, isHangarError } from '../errors.ts'
import { configSchema, indexSchema, isIndex, manifestSchema, mediaTypes, parseDocument, type Descriptor } from './oci.ts'
import { parseImageRef, repositoryName } from './ref.ts'
import { RemoteRepository, type RemoteOptions } from './remote.ts'
import type { ImageRecord, ImageStore } from './types.ts'

export interface PullProgress {
  phase: 'manifest' | 'blob' | 'done'
  message: string
  digest?: string
  /** Bytes of this blob received so far, and its size. */
  bytes?: number
  total?: number
}

export interface PullOptions extends RemoteOptions {
  onProgress?: (p: PullProgress) => void
}

const accept = [mediaTypes.index, mediaTypes.dockerList, mediaTypes.manifest, mediaTypes.dockerManifest].join(', ')
const attempts = 5
const parallel = 3

/** A blob download and the signal of the pull that started it. */
interface Download {
  done: Promise<void>
  signal: AbortSignal | undefined
}

/** Blob downloads in flight per store, so two pulls sharing a layer write one ingest file, not two into the same one. */
const inflight = new WeakMap<object, Map<string, Download>>()

/**
 * Pulls `ref` (which must name a registry, or means Docker Hub) and tags it in the store under that name.
 * Holds the store lock throughout: blobs already present are not fetched again, and gc must not take them meanwhile.
 */
export function pullImage(store: ImageStore, ref: string, opts: PullOptions = {}): Promise<ImageRecord> {
  return store.content.lock.shared(() => pull(store, ref, opts))
}

async function pull(store: ImageStore, ref: string, opts: PullOptions): Promise<ImageRecord> {
  const p = parseImageRef(ref)
  if (store.own.has(p.registry)) return ownImage(store, ref)
  const remote = new RemoteRepository(p, { ...opts, targets: store.targets })
  const say = opts.onProgress ?? (() => {})
  say({ phase: 'manifest', message: `resolving ${ref} on ${remote.host}` })
  const top = await fetchDocument(remote, p.digest ?? p.tag)
  if (p.digest && top.digest !== p.digest) throw new HangarError('invalid_argument', `${remote.host} sent manifest ${top.digest} for ${ref}`)
  let manifest = top
  if (isIndex(top.mediaType)) {
    const child = parseDocument(indexSchema, top.bytes, `image index ${top.digest}`).manifests
      .find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64')
    if (!child) throw new HangarError('invalid_argument', `${ref} has no linux/amd64 image; Hangar runs linux/amd64`)
    manifest = await fetchDocument(remote, child.digest)
    if (manifest.digest !== child.digest) throw new HangarError('invalid_argument', `${remote.host} sent manifest ${manifest.digest} for ${child.digest}`)
  }
  const m = parseDocument(manifestSchema, manifest.bytes, `manifest ${manifest.digest}`)
  const blobs = [m.config, ...m.layers]
  let next = 0
  const worker = async (): Promise<void> => {
    for (let i = next++; i < blobs.length; i = next++) await fetchBlob(store, remote, blobs[i]!, say, opts.signal)
  }
  await Promise.all(Array.from({ length: Math.min(parallel, blobs.length) }, worker))
  // Cancelled after the last blob: what came stays in the store for gc, but no tag points at it.
  opts.signal?.throwIfAborted()
  parseDocument(configSchema, await store.content.read(m.config.digest), `image config ${m.config.digest}`)
  // Documents last: a manifest is in the store only once everything it names is.
  await store.content.putBytes(manifest.bytes, manifest.digest)
  if (top !== manifest) await store.content.putBytes(top.bytes, top.digest)
  const name = `${repositoryName(p)}:${p.tag || `sha256-${top.digest.slice(7, 19)}`}`
  await store.tags.set(name, { digest: top.digest, size: top.bytes.length, mediaType: top.mediaType })
  const img = await store.resolve(name)
  say({ phase: 'done', message: `pulled ${img.ref} (${img.digest})`, digest: img.digest })
  return img
}

async function fetchDocument(remote: RemoteRepository, ref: string): Promise<{ bytes: Buffer; digest: string; mediaType: string }> {
  const res = await remote.fetch('GET', `/manifests/${ref}`, { headers: { accept } })
  if (!res.ok) throw await remote.failure(res, `GET manifest ${remote.name}:${ref}`)
  // Refuse by the declared length before buffering: a hostile registry must not exhaust memory.
  if (Number(res.headers.get('content-length') ?? 0) > 4 << 20) {
    await res.body?.cancel()
    throw new HangarError('invalid_argument', `manifest ${ref} from ${remote.host} is over 4 MiB`)
  }
  const bytes = Buffer.from(await res.arrayBuffer())
  if (bytes.length > 4 << 20) throw new HangarError('invalid_argument', `manifest ${ref} from ${remote.host} is over 4 MiB`)
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
  let mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim()
  if (![mediaTypes.index, mediaTypes.dockerList, mediaTypes.manifest, mediaTypes.dockerManifest].includes(mediaType as never)) {
    const doc = JSON.parse(bytes.toString()) as { mediaType?: string; manifests?: unknown }
    mediaType = doc.mediaType ?? (Array.isArray(doc.manifests) ? mediaTypes.index : mediaTypes.manifest)
  }
  return { bytes, digest, mediaType }
}

/**
 * Downloads a blob, or joins the download another pull has running. A joined pull is not bound to
 * the other's fate: its own cancel ends only its wait, and when the other is cancelled (an abort's
 * reason can be anything, so its signal says so) it downloads the blob itself, from what is in ingest.
 */
function fetchBlob(store: ImageStore, remote: RemoteRepository, desc: Descriptor, say: (p: PullProgress) => void, signal: AbortSignal | undefined): Promise<void> {
  let running = inflight.get(store)
  if (!running) inflight.set(store, (running = new Map()))
  const other = running.get(desc.digest)
  if (!other) {
    const done = download(store, remote, desc, say, signal).finally(() => running.delete(desc.digest))
    running.set(desc.digest, { done, signal })
    return done
  }
  return untilAborted(other.done, signal).catch((e: unknown) => {
    if (other.signal?.aborted && !signal?.aborted) return fetchBlob(store, remote, desc, say, signal)
    throw e
  })
}

/** `p`, or the signal's reason as soon as it aborts. */
async function untilAborted(p: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return p
  signal.throwIfAborted()
  let onAbort!: () => void
  const aborted = new Promise<never>((_, reject) => signal.addEventListener('abort', (onAbort = () => reject(signal.reason)), { once: true }))
  return Promise.race([p, aborted]).finally(() => signal.removeEventListener('abort', onAbort))
}

/** Downloads into ingest/pull-<hex>, appending to what an earlier attempt left, then verifies and publishes. */
async function download(store: ImageStore, remote: RemoteRepository, desc: Descriptor, say: (p: PullProgress) => void, signal: AbortSignal | undefined): Promise<void> {
  if (await store.content.has(desc.digest)) return
  const file = join(store.content.ingestDir, `pull-${desc.digest.slice(7)}`)
  for (let attempt = 1; ; attempt++) {
    let have = (await stat(file).catch(() => null))?.size ?? 0
    if (have > desc.size) await truncate(file, (have = 0))
    if (have === desc.size) break
    try {
      const res = await remote.fetch('GET', `/blobs/${desc.digest}`, { headers: have > 0 ? { range: `bytes=${have}-` } : {} })
      if (res.status === 200 && have > 0) await truncate(file, (have = 0)) // the registry ignored the Range: start over
      else if (res.status === 206 && !(res.headers.get('content-range') ?? '').startsWith(`bytes ${have}-`)) {
        await res.body?.cancel()
        await truncate(file, 0)
        throw new HangarError('unavailable', `${remote.host} answered a range request for ${desc.digest} with ${res.headers.get('content-range')}`)
      } else if (res.status !== 200 && res.status !== 206) throw await remote.failure(res, `GET blob ${desc.digest}`)
      let got = have
      let told = 0
      // Each chunk is on disk before the next is read, so a cut connection keeps every byte received for the resume.
      const fh = await open(file, have > 0 ? 'a' : 'w')
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          got += chunk.length
          if (got > desc.size) throw new HangarError('invalid_argument', `${remote.host} sent more than the ${desc.size} bytes of ${desc.digest}`)
          await fh.write(chunk)
          // A few events a second, not one per 64 KiB chunk.
          if (got === desc.size || Date.now() - told > 250) {
            told = Date.now()
            say({ phase: 'blob', message: `${desc.digest.slice(0, 19)} ${got}/${desc.size}`, digest: desc.digest, bytes: got, total: desc.size })
          }
        }
      } finally {
        await fh.close()
      }
      if (got === desc.size) break
      throw new HangarError('unavailable', `${remote.host} ended ${desc.digest} after ${got} of ${desc.size} bytes`)
    } catch (e) {
      // Aborted is final whatever the reason it was given (a cancelled MCP call's is a plain string).
      const retryable = !signal?.aborted && (isHangarError(e) ? e.code === 'unavailable' : (e as Error).name !== 'AbortError')
      if (!retryable || attempt >= attempts) throw e
      await sleep(200 * 2 ** attempt)
    }
  }
  // adopt() hashes the file and renames it into blobs/ only if it matches; a bad file is removed.
  const staged = await store.content.adopt(file, desc.digest, desc.size)
  await staged.commit()
}

/** A reference on our own registry is already here, or nowhere: no request goes out, not even to ourselves. */
async function ownImage(store: ImageStore, ref: string): Promise<ImageRecord> {
  try {
    return await store.resolve(ref)
  } catch (e) {
    if (!isHangarError(e) || e.code !== 'image_not_found') throw e
    throw new HangarError('image_not_found', `image ${ref} is not in this Hangar's registry`, {
      hint: `${ref.slice(0, ref.indexOf('/'))} is this Hangar: push the image there first (skopeo copy … docker://${ref}), or import it`,
    })
  }
}
