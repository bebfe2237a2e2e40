/**
 * Manifests by tag or digest: GET/HEAD (negotiated by Accept), PUT, DELETE.
 * A manifest pushed by tag is tagged in the store's own index.json, so it is
 * at once an image Hangar lists and can run. PUT checks what it stores: a
 * known media type, at most 4 MiB, a valid document, and every blob it names
 * already present (MANIFEST_BLOB_UNKNOWN otherwise).
 */
import { isHangarError } from '../../errors.ts'
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { indexSchema, isIndex, manifestSchema, mediaTypes, refNameAnnotation, type Descriptor } from '../oci.ts'
import { parseImageRef, repositoryName } from '../ref.ts'
import { RegistryError } from './errors.ts'
import { checkDigest, isDigestRef, tagRe, type Body, type RegistryCtx } from './paths.ts'

const maxManifestBytes = 4 << 20
const manifestTypes = new Set<string>([mediaTypes.manifest, mediaTypes.index, mediaTypes.dockerManifest, mediaTypes.dockerList])

/** The tag `ref` of repository `name` as the store's tag index writes it ("test/busybox:1"). */
export function storeRef(name: string, tag: string): string {
  if (!tagRe.test(tag)) throw new RegistryError('MANIFEST_INVALID', `"${tag}" is not a valid tag`, { tag })
  const p = parseImageRef(`${name}:${tag}`)
  // Docker Hub names are shortened by the parser; a name that does not survive the round trip cannot be stored.
  if (repositoryName(p) !== name) throw new RegistryError('NAME_INVALID', `repository name "${name}" is reserved (Hangar stores it as "${repositoryName(p)}")`, { name })
  return `${name}:${tag}`
}

/** The tag index entry for name:tag, or by digest any stored document. */
async function find(ctx: RegistryCtx, name: string, ref: string): Promise<{ digest: string; mediaType?: string } | null> {
  if (isDigestRef(ref)) {
    const digest = checkDigest(ref)
    return (await ctx.content.has(digest)) ? { digest } : null
  }
  const want = storeRef(name, ref)
  const d = (await ctx.tags.entries()).find((e) => normalise(e.annotations?.[refNameAnnotation]) === want)
  return d ? { digest: d.digest, mediaType: d.mediaType } : null
}

/** "busybox" → "busybox:latest", the way the store reads its own tags. */
export function normalise(refName: string | undefined): string | undefined {
  if (refName === undefined) return undefined
  try {
    const p = parseImageRef(refName)
    return p.tag === '' ? undefined : `${repositoryName(p)}:${p.tag}`
  } catch {
    return undefined
  }
}

/** GET/HEAD /v2/<name>/manifests/<ref> */
export async function readManifest(ctx: RegistryCtx, method: string, name: string, ref: string, accept: string | undefined): Promise<Response> {
  const unknown = (): RegistryError => new RegistryError('MANIFEST_UNKNOWN', `manifest ${name}:${ref} is not in the registry`, { name, reference: ref })
  const found = await find(ctx, name, ref)
  if (!found) throw unknown()
  let digest = found.digest
  // A layer's digest asked for as a manifest is unknown as a manifest, whatever its size.
  let bytes = await ctx.content.read(digest).catch((e: unknown) => {
    if (isHangarError(e) && e.code === 'invalid_argument') throw unknown()
    throw e
  })
  let type = typeOf(bytes, found.mediaType)
  if (type === null) throw unknown() // a layer or config asked for as a manifest
  const accepted = (accept ?? '').split(',').map((s) => s.split(';')[0]!.trim()).filter(Boolean)
  if (accepted.length > 0 && !accepted.includes('*/*') && !accepted.includes(type)) {
    // An index for a client that cannot read indexes gets its linux/amd64 manifest, as Docker's registry does.
    const child = isIndex(type) ? platformChild(bytes) : null
    if (!child || !accepted.includes(child.mediaType)) {
      throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${name}:${ref} is ${type}, which the Accept header does not include`, { mediaType: type, accept: accepted }, { status: 404 })
    }
    digest = child.digest
    bytes = await ctx.content.read(digest)
    type = child.mediaType
  }
  const headers = { 'content-type': type, 'content-length': String(bytes.length), 'docker-content-digest': digest, etag: `"${digest}"` }
  return new Response(method === 'HEAD' ? null : new Uint8Array(bytes), { status: 200, headers })
}

/** PUT /v2/<name>/manifests/<ref> */
export async function putManifest(ctx: RegistryCtx, name: string, ref: string, contentType: string | undefined, body: Body): Promise<Response> {
  const tag = isDigestRef(ref) ? null : storeRef(name, ref)
  const bytes = await readLimited(body)
  const type = (contentType ?? '').split(';')[0]!.trim()
  if (!manifestTypes.has(type)) {
    throw new RegistryError('MANIFEST_INVALID', `manifest media type "${type}" is not supported; use the OCI image manifest or index, or Docker's schema 2 manifest or list`, { mediaType: type })
  }
  const index = isIndex(type)
  const doc: { mediaType?: string | undefined; manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] } =
    index ? parse(indexSchema, bytes) : parse(manifestSchema, bytes)
  if (doc.mediaType !== undefined && doc.mediaType !== type) {
    throw new RegistryError('MANIFEST_INVALID', `the manifest says mediaType ${doc.mediaType} but was sent as ${type}`, { mediaType: doc.mediaType, contentType: type })
  }
  const refs: Descriptor[] = doc.manifests ?? [doc.config!, ...doc.layers!]
  const missing: string[] = []
  for (const d of refs) if (!(await ctx.content.has(d.digest))) missing.push(d.digest)
  if (missing.length > 0) {
    const errs = missing.map((digest) => ({ code: 'MANIFEST_BLOB_UNKNOWN' as const, message: `blob ${digest} is not in the registry; push it first`, detail: { digest } }))
    throw new RegistryError('MANIFEST_BLOB_UNKNOWN', errs[0]!.message, { digest: missing[0] }, { more: errs.slice(1) })
  }
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
  if (tag === null && checkDigest(ref) !== digest) {
    throw new RegistryError('DIGEST_INVALID', `the manifest's digest is ${digest}, not ${ref}`, { digest: ref, actual: digest })
  }
  await ctx.content.putBytes(bytes, digest)
  if (tag !== null) await ctx.tags.set(tag, { digest, size: bytes.length, mediaType: type })
  return new Response(null, { status: 201, headers: { location: `/v2/${name}/manifests/${digest}`, 'docker-content-digest': digest, 'content-length': '0' } })
}

/**
 * DELETE /v2/<name>/manifests/<ref>: by tag, drops the tag; by digest, drops
 * every tag of this repository on it, and the manifest itself once no tag anywhere names it.
 */
export async function deleteManifest(ctx: RegistryCtx, name: string, ref: string): Promise<Response> {
  const entries = await ctx.tags.entries()
  const ours = (d: Descriptor): boolean => normalise(d.annotations?.[refNameAnnotation])?.startsWith(`${name}:`) === true
  if (!isDigestRef(ref)) {
    const want = storeRef(name, ref)
    // Removed by the name as index.json spells it ("busybox" for "busybox:latest").
    const raw = entries.map((d) => d.annotations?.[refNameAnnotation]).find((n) => normalise(n) === want)
    if (raw === undefined || !(await ctx.tags.remove(raw))) {
      throw new RegistryError('MANIFEST_UNKNOWN', `tag ${name}:${ref} is not in the registry`, { name, reference: ref })
    }
    return new Response(null, { status: 202 })
  }
  const digest = checkDigest(ref)
  if (!(await ctx.content.has(digest))) throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${digest} is not in the registry`, { digest })
  for (const d of entries) if (d.digest === digest && ours(d)) await ctx.tags.remove(d.annotations![refNameAnnotation]!)
  if (!(await ctx.tags.entries()).some((d) => d.digest === digest)) await ctx.content.delete(digest)
  return new Response(null, { status: 202 })
}

/** A stored document's manifest media type, or null when it is not a manifest. */
function typeOf(bytes: Buffer, recorded: string | undefined): string | null {
  if (recorded && manifestTypes.has(recorded)) return recorded
  if (bytes.length > maxManifestBytes) return null
  try {
    const doc = JSON.parse(bytes.toString()) as { mediaType?: unknown; manifests?: unknown; config?: unknown; schemaVersion?: unknown }
    if (typeof doc.mediaType === 'string') return manifestTypes.has(doc.mediaType) ? doc.mediaType : null
    if (doc.schemaVersion !== 2) return null
    return Array.isArray(doc.manifests) ? mediaTypes.index : doc.config ? mediaTypes.manifest : null
  } catch {
    return null
  }
}

function platformChild(bytes: Buffer): Descriptor | null {
  const r = indexSchema.safeParse(JSON.parse(bytes.toString()))
  return r.success ? (r.data.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64') ?? null) : null
}

function parse<T>(schema: z.ZodType<T>, bytes: Buffer): T {
  let json: unknown
  try {
    json = JSON.parse(bytes.toString())
  } catch (e) {
    throw new RegistryError('MANIFEST_INVALID', `the manifest is not JSON: ${(e as Error).message}`)
  }
  const r = schema.safeParse(json)
  if (!r.success) throw new RegistryError('MANIFEST_INVALID', `the manifest is not valid: ${z.prettifyError(r.error)}`)
  return r.data
}

/**
 * The body, refusing more than 4 MiB with a 413. The rest is read and dropped (up to 64 MiB) before
 * answering, because a server that answers mid-upload and closes leaves the client with a broken pipe, not the 413.
 */
async function readLimited(body: Body): Promise<Buffer> {
  const parts: Uint8Array[] = []
  let n = 0
  for await (const chunk of body ?? []) {
    n += chunk.length
    if (n <= maxManifestBytes) parts.push(chunk)
    else if (n > 16 * maxManifestBytes) break
  }
  if (n > maxManifestBytes) throw new RegistryError('MANIFEST_INVALID', `the manifest is over ${maxManifestBytes} bytes`, { limit: maxManifestBytes }, { status: 413 })
  return Buffer.concat(parts)
}
