/**
 * The distribution spec's error codes and their JSON body,
 * `{"errors":[{"code","message","detail"}]}`. Registry clients (skopeo,
 * buildah, docker) read these codes, not Hangar's, so /v2 keeps its own table.
 *
 *   throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not in the registry`, { digest })
 */
import { isHangarError } from '../../errors.ts'

/** Each code with the status the spec (or, where it is silent, Docker's registry) answers it with. */
export const registryCodes = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
} as const

export type RegistryCode = keyof typeof registryCodes

export class RegistryError extends Error {
  readonly code: RegistryCode
  readonly status: number
  readonly detail: unknown
  /** Extra response headers (WWW-Authenticate on 401, Range on 416). */
  readonly headers: Record<string, string>
  /** Further entries for the same response (one MANIFEST_BLOB_UNKNOWN per missing blob). */
  readonly more: { code: RegistryCode; message: string; detail: unknown }[]

  constructor(code: RegistryCode, message: string, detail?: unknown, opts: { status?: number; headers?: Record<string, string>; more?: RegistryError['more'] } = {}) {
    super(message)
    this.name = 'RegistryError'
    this.code = code
    this.status = opts.status ?? registryCodes[code]
    this.detail = detail
    this.headers = opts.headers ?? {}
    this.more = opts.more ?? []
  }
}

/** The response for anything a /v2 handler throws; Hangar errors from the store keep their status. */
export function errorResponse(e: unknown, method: string): Response {
  let err: RegistryError
  if (e instanceof RegistryError) err = e
  else if (isHangarError(e) && e.status < 500) err = new RegistryError(e.status === 404 ? 'BLOB_UNKNOWN' : 'UNSUPPORTED', e.message, undefined, { status: e.status })
  else throw e
  const body = JSON.stringify({ errors: [{ code: err.code, message: err.message, detail: err.detail ?? null }, ...err.more] })
  const headers = new Headers({ 'content-type': 'application/json', ...err.headers })
  // A HEAD answer carries no body (the spec says HEAD errors are status only).
  return new Response(method === 'HEAD' ? null : body, { status: err.status, headers })
}
