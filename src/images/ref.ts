/**
 * Image references in Docker's grammar ("debian", "busybox:1.36",
 * "localhost:4280/foo/bar:tag", "name@sha256:<64 hex>"), normalised to the
 * familiar form Docker prints: Docker Hub's "docker.io/library/x" is plain "x".
 */
import { HangarError } from '../errors.ts'
import type { ParsedRef } from './types.ts'

// From distribution/reference's regexp.go, anchored piece by piece.
const component = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
// A host name, or an IPv6 address in brackets ("[::1]:4280") as distribution/reference now allows.
const domain = /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$/
const tagRe = /^[\w][\w.-]{0,127}$/
const digestRe = /^sha256:[a-f0-9]{64}$/
const maxNameLength = 255

/** Registries whose images Docker shows without a host, and "library/" without. */
const dockerHub = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io'])

/**
 * Parses an image reference; throws HangarError invalid_image_ref when it is not one.
 * A reference with a digest and no tag gets tag "" (the digest names the image).
 *
 *   parseImageRef('debian')  // { registry: null, repository: 'debian', tag: 'latest', digest: null }
 */
export function parseImageRef(input: string): ParsedRef {
  const bad = (why: string): HangarError => new HangarError('invalid_image_ref', `invalid image reference "${input}": ${why}`)
  if (typeof input !== 'string' || input === '') throw bad('it is empty')
  if (input.trim() !== input) throw bad('it has surrounding spaces')

  let rest = input
  let digest: string | null = null
  const at = rest.indexOf('@')
  if (at !== -1) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    if (!digestRe.test(digest)) throw bad('the digest must be sha256: followed by 64 lowercase hex digits')
  }

  // A tag is after the last ':' that comes after the last '/', so "host:5000/x" keeps its port.
  let tag = ''
  const colon = rest.lastIndexOf(':')
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!tagRe.test(tag)) throw bad(`"${tag}" is not a valid tag (letters, digits, _ . -, at most 128, not starting with . or -)`)
  }
  if (rest === '') throw bad('the name is empty')
  if (rest.length > maxNameLength) throw bad(`the name is longer than ${maxNameLength} characters`)

  let registry: string | null = null
  let path = rest
  const slash = rest.indexOf('/')
  if (slash !== -1) {
    const first = rest.slice(0, slash)
    // Docker's rule: the first component is a host if it looks like one.
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      if (!domain.test(first)) throw bad(`"${first}" is not a valid registry host`)
      registry = first
      path = rest.slice(slash + 1)
    }
  }
  for (const part of path.split('/')) {
    if (!component.test(part)) throw bad(`"${part}" is not a valid name component (lowercase letters, digits, separators . _ __ -)`)
  }

  if (registry !== null && dockerHub.has(registry.toLowerCase())) {
    registry = null
    if (path.startsWith('library/') && path.split('/').length === 2) path = path.slice('library/'.length)
  }
  if (tag === '' && digest === null) tag = 'latest'
  return { registry, repository: path, tag, digest }
}

/** "localhost:4280/foo/bar" — the repository with its registry, as ImageRecord.repository holds it. */
export function repositoryName(ref: ParsedRef): string {
  return ref.registry === null ? ref.repository : `${ref.registry}/${ref.repository}`
}

/** "busybox:latest", "localhost:4280/foo/bar:tag", or "name@sha256:…" when there is no tag. */
export function formatRef(ref: ParsedRef): string {
  const name = repositoryName(ref)
  if (ref.tag !== '') return `${name}:${ref.tag}${ref.digest ? `@${ref.digest}` : ''}`
  return `${name}@${ref.digest}`
}

/** True for a bare "sha256:<64 hex>" digest. */
export function isDigest(s: string): boolean {
  return digestRe.test(s)
}
