/**
 * /v2 paths: a repository name may have several components
 * (`/v2/library/busybox/manifests/latest`), so the router matches one wildcard
 * and this file splits the suffix into name, endpoint and reference.
 */
import type { ContentStore } from '../content-store.ts'
import type { TagIndex } from '../tag-index.ts'
import { RegistryError } from './errors.ts'
import type { Uploads } from './uploads.ts'

/** What every endpoint handler works on. */
export interface RegistryCtx {
  content: ContentStore
  tags: TagIndex
  uploads: Uploads
}

/** A request body: Node's request stream or a web stream, read as chunks. */
export type Body = AsyncIterable<Uint8Array> | null

export type Route =
  | { kind: 'base' }
  | { kind: 'token' }
  | { kind: 'catalog' }
  | { kind: 'tags'; name: string }
  | { kind: 'manifest'; name: string; ref: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'uploads'; name: string; id: string }

// The spec's <name> grammar: components of [a-z0-9] runs joined by . _ __ or dashes.
const nameRe = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/
export const tagRe = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/
const digestRe = /^sha256:[a-f0-9]{64}$/
const endpointRe = /^\/(.+?)\/(blobs\/uploads\/?([^/]*)|blobs\/([^/]+)|manifests\/([^/]+)|tags\/list)$/

export function isRepositoryName(name: string): boolean {
  return name.length <= 255 && nameRe.test(name)
}

/** The route for a path below /v2, or null when it is none of the spec's endpoints. */
export function parseRoute(path: string): Route | null {
  const rest = path.replace(/^\/v2/, '')
  if (rest === '' || rest === '/') return { kind: 'base' }
  if (rest === '/token') return { kind: 'token' }
  if (rest === '/_catalog') return { kind: 'catalog' }
  const m = endpointRe.exec(rest)
  if (!m) return null
  const name = m[1]!
  if (!isRepositoryName(name)) throw new RegistryError('NAME_INVALID', `"${name}" is not a valid repository name`, { name })
  if (m[2] === 'tags/list') return { kind: 'tags', name }
  if (m[2]!.startsWith('blobs/uploads')) return { kind: 'uploads', name, id: m[3] ?? '' }
  if (m[4] !== undefined) return { kind: 'blob', name, digest: m[4] }
  let ref: string
  try {
    ref = decodeURIComponent(m[5]!)
  } catch {
    throw new RegistryError('MANIFEST_INVALID', `"${m[5]}" is not a valid tag or digest (bad percent-encoding)`, { reference: m[5] })
  }
  return { kind: 'manifest', name, ref }
}

/** Checks a digest from a path or query; the store holds sha256 only. */
export function checkDigest(digest: string | undefined): string {
  if (digest === undefined || !digestRe.test(digest)) {
    throw new RegistryError('DIGEST_INVALID', `"${digest ?? ''}" is not a sha256 digest (sha256:<64 lowercase hex>)`, { digest: digest ?? null })
  }
  return digest
}

export function isDigestRef(ref: string): boolean {
  return ref.includes(':')
}

/** n and last from a list query: n absent means everything; a bad n is a 400. */
export function paginate(all: string[], n: string | undefined, last: string | undefined): { page: string[]; more: boolean } {
  const after = last ? all.filter((x) => x > last) : all
  if (n === undefined || n === '') return { page: after, more: false }
  const count = Number(n)
  if (!Number.isInteger(count) || count < 0) throw new RegistryError('UNSUPPORTED', `n must be a non-negative integer, not "${n}"`, { n }, { status: 400 })
  return { page: after.slice(0, count), more: after.length > count && count > 0 }
}
