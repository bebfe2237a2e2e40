/**
 * Routes as data: method, path, the platform's schema for the body, and a
 * handler that only parses and calls. The router and the OpenAPI document are
 * both built from this one table.
 */
import type { Context } from 'hono'
import type { z } from 'zod'
import { HangarError } from '../../errors.ts'
import type { Action } from '../../auth/index.ts'
import type { Caller } from '../../platform/index.ts'
import type { OpSpec } from '../../ops/index.ts'

export interface RouteDef {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete'
  /** Hono path, e.g. /v1/apps/:app/machines/:id */
  path: string
  summary: string
  tag: string
  /**
   * What the caller's token must allow: the action, with the app (`:app`) and machine (`:id`) taken
   * from the path. A `listing` route lists that resource and filters the list itself; a route
   * `about` tokens or the tokenizer touches no app or machine.
   */
  access: { action: Action; listing?: 'apps' | 'machines'; about?: 'tokens' | 'tokenizer' }
  body?: z.ZodType
  /** Query parameters documented in OpenAPI: name → description. */
  query?: Record<string, string>
  /** Success status, documented and used by handlers that return data. */
  status?: number
  handler: (c: Context) => Promise<Response> | Response
  /** The declaration the route was derived from (operations.ts), for OpenAPI's answer schema and states. */
  spec?: OpSpec
}

const maxJsonBytes = 1 << 20

/** The JSON body as an object, or undefined when empty; malformed JSON is a 400 with a hint. */
export async function readJson(c: Context): Promise<unknown> {
  // Refuse by the declared length before reading anything; then by what actually came.
  const declared = Number(c.req.header('content-length') ?? 0)
  if (declared > maxJsonBytes) throw new HangarError('payload_too_large', `request body is ${declared} bytes; the limit is ${maxJsonBytes}`)
  const text = await c.req.text()
  const size = Buffer.byteLength(text)
  if (size > maxJsonBytes) throw new HangarError('payload_too_large', `request body is ${size} bytes; the limit is ${maxJsonBytes}`)
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text)
  } catch (e) {
    // V8's message quotes the body around the fault, which may be a secret's value: keep only where it is.
    const at = /position (\d+)/.exec((e as Error).message)?.[1]
    throw new HangarError('malformed_json', `request body is not valid JSON${at === undefined ? '' : ` (at byte ${at})`}`)
  }
}

/** A JSON object body (or {} when empty); anything else is a 400. */
export async function readObject(c: Context): Promise<Record<string, unknown>> {
  const body = (await readJson(c)) ?? {}
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HangarError('invalid_argument', 'request body must be a JSON object')
  }
  return body as Record<string, unknown>
}

export function boolQuery(c: Context, name: string): boolean {
  const v = c.req.query(name)
  return v === '' || v === 'true' || v === '1'
}

export function nonceOf(c: Context): { nonce?: string } {
  const nonce = c.req.header('fly-machine-lease-nonce')
  return nonce ? { nonce } : {}
}

/** The authenticated caller (set by the /v1 middleware before any handler runs). */
export function callerOf(c: Context): Caller {
  return (c as Context<{ Variables: { caller: Caller } }>).get('caller')
}
