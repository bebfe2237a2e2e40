/**
 * Blob reads and deletes: HEAD and GET (with a single Range, answered 206) and
 * DELETE. Blobs live once in the content store whatever repository names them,
 * so <name> gates access but does not scope the lookup.
 */
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { isIndex, refNameAnnotation } from '../oci.ts'
import { RegistryError } from './errors.ts'
import { checkDigest, type RegistryCtx } from './paths.ts'

/** HEAD/GET /v2/<name>/blobs/<digest> */
export async function readBlob(ctx: RegistryCtx, method: string, digestParam: string, rangeHeader: string | undefined): Promise<Response> {
  const digest = checkDigest(digestParam)
  const path = ctx.content.path(digest)
  const st = await stat(path).catch(() => null)
  if (!st?.isFile()) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not in the registry`, { digest })
  const headers: Record<string, string> = {
    'content-type': 'application/octet-stream',
    'docker-content-digest': digest,
    'accept-ranges': 'bytes',
    // Content under a digest never changes.
    etag: `"${digest}"`,
    'cache-control': 'max-age=31536000',
  }
  let start = 0
  let end = st.size - 1
  let status = 200
  if (rangeHeader !== undefined && method === 'GET') {
    const r = parseRange(rangeHeader, st.size)
    if (r === null) return new Response(null, { status: 416, headers: { ...headers, 'content-range': `bytes */${st.size}` } })
    ;[start, end] = r
    status = 206
    headers['content-range'] = `bytes ${start}-${end}/${st.size}`
  }
  headers['content-length'] = String(end - start + 1)
  if (method === 'HEAD' || end < start) return new Response(null, { status, headers })
  const body = Readable.toWeb(createReadStream(path, { start, end })) as ReadableStream
  return new Response(body, { status, headers })
}

/** One `bytes=a-b`, `bytes=a-` or `bytes=-n` range, clipped to the size; null when it cannot be met. */
export function parseRange(header: string, size: number): [number, number] | null {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m || (m[1] === '' && m[2] === '')) return null
  if (m[1] === '') {
    const n = Number(m[2])
    if (n === 0 || size === 0) return null
    return [Math.max(0, size - n), size - 1]
  }
  const start = Number(m[1])
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (start >= size || end < start) return null
  return [start, end]
}

/**
 * DELETE /v2/<name>/blobs/<digest>: 202, or 404 when absent. A blob a tagged
 * image still needs is refused (405 UNSUPPORTED): deleting it would break the
 * image for every machine created from it later.
 */
export async function deleteBlob(ctx: RegistryCtx, digestParam: string): Promise<Response> {
  const digest = checkDigest(digestParam)
  if (!(await ctx.content.has(digest))) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not in the registry`, { digest })
  const user = await taggedUser(ctx, digest)
  if (user) {
    throw new RegistryError('UNSUPPORTED', `blob ${digest} is part of ${user}; delete that manifest first`, { digest, image: user })
  }
  await ctx.content.delete(digest)
  return new Response(null, { status: 202 })
}

/** The tag of an image whose manifest (or index, one level down) names the blob, if any. */
async function taggedUser(ctx: RegistryCtx, digest: string): Promise<string | null> {
  for (const d of await ctx.tags.entries()) {
    const name = d.annotations?.[refNameAnnotation] ?? d.digest
    if (d.digest === digest) return name
    const docs = [d.digest]
    if (isIndex(d.mediaType)) docs.push(...(await children(ctx, d.digest)))
    for (const doc of docs) {
      const bytes = await ctx.content.read(doc).catch(() => null)
      if (bytes?.includes(digest)) return name
    }
  }
  return null
}

async function children(ctx: RegistryCtx, index: string): Promise<string[]> {
  try {
    const doc = JSON.parse((await ctx.content.read(index)).toString()) as { manifests?: { digest?: string }[] }
    return (doc.manifests ?? []).flatMap((m) => (typeof m.digest === 'string' ? [m.digest] : []))
  } catch {
    return []
  }
}
