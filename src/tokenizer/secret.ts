/**
 * A secret's JSON, read as superfly/tokenizer's Go code reads it (secret.go, processor.go,
 * authorizer.go): exactly one processor key and one auth key beside `allowed_hosts` and
 * `allowed_host_pattern`; unknown keys ignored; null the same as absent; byte fields ([]byte in
 * Go) standard base64; a key matched exactly, else case-insensitively, as encoding/json does.
 * Errors name the field, never a value.
 *
 *   const s = parseSecret(keys.open(sealed))   // throws tokenizer_bad_secret
 *   log.info({ secret: redact(s) })            // types and rules, no credential
 */
import { HangarError } from '../errors.ts'
import { decodeBase64 } from './keys.ts'

export interface OAuthToken {
  access_token: string
  refresh_token: string
}

/** Where an inject processor puts its value, and what a request's params may change (FmtProcessor, DstProcessor). */
export interface Placement {
  fmt: string
  /** null: no list; [] refuses every format, as Go's non-nil empty slice does. */
  allowedFmt: string[] | null
  dst: string
  allowedDst: string[] | null
}

export type Processor =
  | ({ type: 'inject_processor'; token: string } & Placement)
  | ({ type: 'inject_hmac_processor'; key: Buffer | null; hash: string } & Placement)
  | { type: 'inject_body_processor'; token: string; placeholder: string }
  | { type: 'oauth2_processor'; token: OAuthToken | null }
  | { type: 'oauth2_body_processor'; token: OAuthToken | null; placeholder: string }
  | { type: 'sigv4_processor'; accessKey: string; secretKey: string; noSwap: boolean }
  | { type: 'multi_processor'; processors: Processor[] }
  /** Token-minting processors: recognised, so their secrets open, but not run by this tokenizer. */
  | { type: 'jwt_processor' | 'client_credentials_processor' | 'github_app_processor' }

export type Auth =
  | { type: 'bearer_auth'; digest: Buffer | null }
  | { type: 'no_auth' }
  /** Recognised and refused: they need Fly's token service, Fly's proxy, or superfly/macaroon tokens. */
  | { type: 'macaroon_auth' | 'flyio_macaroon_auth' | 'fly_src_auth' }

export interface Secret {
  processor: Processor
  auth: Auth
  /** null: any host; [] none (Go keeps a non-nil empty list). */
  allowedHosts: string[] | null
  /** '' for none. */
  allowedHostPattern: string
}

export const processorTypes = [
  'inject_processor', 'inject_hmac_processor', 'inject_body_processor', 'oauth2_processor', 'oauth2_body_processor',
  'sigv4_processor', 'jwt_processor', 'client_credentials_processor', 'github_app_processor', 'multi_processor',
] as const
export const authTypes = ['bearer_auth', 'macaroon_auth', 'flyio_macaroon_auth', 'fly_src_auth', 'no_auth'] as const

type Json = Record<string, unknown>
const maxDepth = 8

const bad = (why: string): HangarError => new HangarError('tokenizer_bad_secret', `the sealed secret is not a tokenizer secret this proxy can use: ${why}`)

/** encoding/json's field lookup: the exact key, else the last one equal under case folding. */
function field(o: Json, name: string): unknown {
  if (Object.hasOwn(o, name)) return o[name]
  let found: unknown
  for (const k of Object.keys(o)) if (k.toLowerCase() === name) found = o[k]
  return found
}

function object(o: Json, name: string, path: string): Json | null {
  const v = field(o, name)
  if (v === undefined || v === null) return null
  if (typeof v !== 'object' || Array.isArray(v)) throw bad(`${path}${name} must be an object`)
  return v as Json
}

function str(o: Json, name: string, path: string): string {
  const v = field(o, name)
  if (v === undefined || v === null) return ''
  if (typeof v !== 'string') throw bad(`${path}${name} must be a string`)
  return v
}

function bool(o: Json, name: string, path: string): boolean {
  const v = field(o, name)
  if (v === undefined || v === null) return false
  if (typeof v !== 'boolean') throw bad(`${path}${name} must be true or false`)
  return v
}

function strings(o: Json, name: string, path: string): string[] | null {
  const v = field(o, name)
  if (v === undefined || v === null) return null
  if (!Array.isArray(v) || v.some((x) => x !== null && typeof x !== 'string')) throw bad(`${path}${name} must be a list of strings`)
  return v.map((x) => (x === null ? '' : (x as string)))
}

/** A Go []byte: standard base64 in JSON. */
function bytes(o: Json, name: string, path: string): Buffer | null {
  const v = field(o, name)
  if (v === undefined || v === null) return null
  const b = typeof v === 'string' ? decodeBase64(v) : null
  if (!b) throw bad(`${path}${name} must be standard base64`)
  return b
}

function placement(o: Json, path: string): Placement {
  return { fmt: str(o, 'fmt', path), allowedFmt: strings(o, 'allowed_fmt', path), dst: str(o, 'dst', path), allowedDst: strings(o, 'allowed_dst', path) }
}

function oauthToken(o: Json, path: string): OAuthToken | null {
  const t = object(o, 'token', path)
  return t ? { access_token: str(t, 'access_token', `${path}token.`), refresh_token: str(t, 'refresh_token', `${path}token.`) } : null
}

function processorOf(type: (typeof processorTypes)[number], o: Json, path: string): Processor {
  const p = `${path}${type}.`
  switch (type) {
    case 'inject_processor':
      return { type, token: str(o, 'token', p), ...placement(o, p) }
    case 'inject_hmac_processor':
      return { type, key: bytes(o, 'key', p), hash: str(o, 'hash', p), ...placement(o, p) }
    case 'inject_body_processor':
      return { type, token: str(o, 'token', p), placeholder: str(o, 'placeholder', p) }
    case 'oauth2_processor':
      return { type, token: oauthToken(o, p) }
    case 'oauth2_body_processor':
      return { type, token: oauthToken(o, p), placeholder: str(o, 'placeholder', p) }
    case 'sigv4_processor':
      return { type, accessKey: str(o, 'access_key', p), secretKey: str(o, 'secret_key', p), noSwap: bool(o, 'no_swap', p) }
    case 'multi_processor':
      throw new Error('unreachable: multi_processor is a list')
    default:
      return { type }
  }
}

/** The one processor of a secret (or of one multi_processor entry). */
function processor(o: Json, path: string, depth: number): Processor {
  if (depth > maxDepth) throw bad(`multi_processor nests deeper than ${maxDepth}`)
  const present = processorTypes.filter((t) => field(o, t) !== undefined && field(o, t) !== null)
  if (present.length !== 1) throw bad(`${path || 'the secret'} needs exactly one processor (${processorTypes.join(', ')}); it has ${present.length}`)
  const type = present[0]!
  if (type === 'multi_processor') {
    const list = field(o, type)
    if (!Array.isArray(list)) throw bad(`${path}multi_processor must be a list`)
    return {
      type,
      processors: list.map((x, i) => {
        if (typeof x !== 'object' || x === null || Array.isArray(x)) throw bad(`${path}multi_processor[${i}] must be an object`)
        return processor(x as Json, `${path}multi_processor[${i}].`, depth + 1)
      }),
    }
  }
  const body = object(o, type, path) as Json
  return processorOf(type, body, path)
}

function auth(o: Json): Auth {
  const present = authTypes.filter((t) => field(o, t) !== undefined && field(o, t) !== null)
  if (present.length !== 1) throw bad(`the secret needs exactly one auth block (${authTypes.join(', ')}); it has ${present.length}`)
  const type = present[0]!
  const body = object(o, type, '') as Json
  if (type === 'bearer_auth') return { type, digest: bytes(body, 'digest', 'bearer_auth.') }
  return { type }
}

/** Reads a secret's JSON (the bytes a sealed box opens to). */
export function parseSecret(json: Buffer | string): Secret {
  let o: unknown
  try {
    o = JSON.parse(typeof json === 'string' ? json : json.toString('utf8'))
  } catch {
    throw bad('its contents are not JSON')
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw bad('its contents are not a JSON object')
  const j = o as Json
  return { processor: processor(j, '', 0), auth: auth(j), allowedHosts: strings(j, 'allowed_hosts', ''), allowedHostPattern: str(j, 'allowed_host_pattern', '') }
}

/** What a processor is, with where it injects: safe to log and to show (StripHazmat's idea, without the placeholders). */
function describe(p: Processor): Record<string, unknown> {
  switch (p.type) {
    case 'inject_processor':
    case 'inject_hmac_processor':
      return { type: p.type, ...(p.dst ? { dst: p.dst } : {}), ...(p.fmt ? { fmt: p.fmt } : {}), ...(p.allowedDst ? { allowed_dst: p.allowedDst } : {}), ...(p.allowedFmt ? { allowed_fmt: p.allowedFmt } : {}) }
    case 'inject_body_processor':
    case 'oauth2_body_processor':
      return { type: p.type, ...(p.placeholder ? { placeholder: p.placeholder } : {}) }
    case 'multi_processor':
      return { type: p.type, processors: p.processors.map(describe) }
    default:
      return { type: p.type }
  }
}

/** A copy of the secret without its credential or its auth digest: for logs and responses. */
export function redact(s: Secret): Record<string, unknown> {
  return {
    processor: describe(s.processor),
    auth: s.auth.type,
    ...(s.allowedHosts ? { allowed_hosts: s.allowedHosts } : {}),
    ...(s.allowedHostPattern ? { allowed_host_pattern: s.allowedHostPattern } : {}),
  }
}
