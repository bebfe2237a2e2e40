/**
 * What each processor does to a request, with the request's params (the JSON after the sealed
 * secret in Proxy-Tokenizer: dst, fmt, msg, st, placeholder), as superfly/tokenizer's
 * processor.go does it. A processor is built once per request, then applied to the draft.
 *
 *   const step = buildProcessor(secret.processor, { dst: 'X-Api-Key', fmt: '%s' })
 *   if (step.needsBody) draft.body = await readAll(req)
 *   step.apply(draft)
 */
import { createHmac } from 'node:crypto'
import { HangarError } from '../errors.ts'
import { canonicalHeader, tokenChars, unsafeDst, validHeaderValue, type Draft } from './draft.ts'
import type { Placement, Processor } from './secret.ts'
import { sigv4Step } from './sigv4.ts'

export type Params = Record<string, string>

export interface Step {
  /** True when apply() reads or rewrites the body: the proxy reads it whole first. */
  needsBody: boolean
  apply(d: Draft): void
}

const defaultPlaceholder = '{{ACCESS_TOKEN}}'

const badSecret = (why: string): HangarError => new HangarError('tokenizer_bad_secret', `the sealed secret cannot be used: ${why}`)
const badParams = (why: string): HangarError => new HangarError('tokenizer_bad_request', why, { hint: 'pick a dst and fmt the secret allows (allowed_dst, allowed_fmt), or send no params' })

/**
 * The value to inject: the format from the params, else the secret's fmt, else its first allowed_fmt,
 * else "Bearer %s" ("Bearer %x" for binary values); one %s (text) or %x/%X (binary) and no other %.
 */
export function applyFmt(pl: Placement, params: Params, value: string | Buffer): string {
  const binary = typeof value !== 'string'
  const format = Object.hasOwn(params, 'fmt') ? (params.fmt as string) : pl.fmt || pl.allowedFmt?.[0] || (binary ? 'Bearer %x' : 'Bearer %s')
  if ((pl.fmt && format !== pl.fmt) || (pl.allowedFmt && !pl.allowedFmt.includes(format))) throw badParams(`fmt "${format}" is not one the secret allows`)
  const i = format.indexOf('%')
  const verb = format[i + 1]
  const fits = binary ? verb === 'x' || verb === 'X' : verb === 's'
  if (i < 0 || !fits || format.includes('%', i + 2)) throw badParams(`fmt "${format}" must hold exactly one ${binary ? '%x or %X' : '%s'} and no other %`)
  const text = typeof value === 'string' ? value : verb === 'X' ? value.toString('hex').toUpperCase() : value.toString('hex')
  return format.slice(0, i) + text + format.slice(i + 2)
}

/** Sets the value in the header the params name, else the secret's dst, else its first allowed_dst, else Authorization. */
export function applyDst(pl: Placement, params: Params, d: Draft, value: string): void {
  const dst = canonicalHeader(Object.hasOwn(params, 'dst') ? (params.dst as string) : pl.dst || pl.allowedDst?.[0] || 'Authorization')
  if ((pl.dst && dst !== canonicalHeader(pl.dst)) || (pl.allowedDst && !pl.allowedDst.some((a) => canonicalHeader(a) === dst))) {
    throw badParams(`dst "${dst}" is not one the secret allows`)
  }
  if (!tokenChars.test(dst) || unsafeDst.has(dst.toLowerCase())) throw badParams(`dst "${dst}" is not a header the tokenizer may set`)
  // The message names the header, never the value (it holds the credential).
  if (!validHeaderValue(value)) throw badSecret(`the value for ${dst} holds characters a header cannot carry`)
  d.set(dst, value)
}

function replaceAll(body: Buffer, placeholder: string, token: string): Buffer {
  const needle = Buffer.from(placeholder)
  const parts: Buffer[] = []
  let from = 0
  for (let at = body.indexOf(needle, from); at >= 0; at = body.indexOf(needle, from)) {
    parts.push(body.subarray(from, at), Buffer.from(token))
    from = at + needle.length
  }
  return parts.length ? Buffer.concat([...parts, body.subarray(from)]) : body
}

const bodyStep = (placeholder: string, token: string): Step => ({
  needsBody: true,
  apply(d) {
    if (d.body) d.body = replaceAll(d.body, placeholder, token)
  },
})

function need<T>(v: T | '' | null, what: string): T {
  if (v === '' || v === null) throw badSecret(`missing ${what}`)
  return v
}

export function buildProcessor(p: Processor, params: Params): Step {
  switch (p.type) {
    case 'inject_processor': {
      const value = applyFmt(p, params, need(p.token, 'token'))
      return { needsBody: false, apply: (d) => applyDst(p, params, d, value) }
    }
    case 'inject_hmac_processor': {
      if (p.hash !== 'sha256') throw badSecret(`unsupported hash "${p.hash}" (only sha256)`)
      const key = need(p.key, 'hmac key')
      if (!key.length) throw badSecret('missing hmac key')
      const msg = Object.hasOwn(params, 'msg') ? (params.msg as string) : null
      return {
        needsBody: msg === null,
        apply(d) {
          const mac = createHmac('sha256', key).update(msg ?? d.body ?? Buffer.alloc(0)).digest()
          applyDst(p, params, d, applyFmt(p, params, mac))
        },
      }
    }
    case 'inject_body_processor': {
      const token = need(p.token, 'token')
      const placeholder = (Object.hasOwn(params, 'placeholder') ? params.placeholder : p.placeholder) || defaultPlaceholder
      return bodyStep(placeholder, token)
    }
    case 'oauth2_processor': {
      const token = need(params.st === 'refresh' ? (p.token?.refresh_token ?? '') : (p.token?.access_token ?? ''), 'token')
      if (params.placeholder) return bodyStep(params.placeholder, token)
      const value = `Bearer ${token}`
      if (!validHeaderValue(value)) throw badSecret('the token holds characters a header cannot carry')
      return { needsBody: false, apply: (d) => d.set('Authorization', value) }
    }
    case 'oauth2_body_processor': {
      const token = need(params.st === 'refresh' ? (p.token?.refresh_token ?? '') : (p.token?.access_token ?? ''), 'token')
      const placeholder = (Object.hasOwn(params, 'placeholder') ? params.placeholder : p.placeholder) || defaultPlaceholder
      return bodyStep(placeholder, token)
    }
    case 'sigv4_processor':
      return sigv4Step(p)
    case 'multi_processor': {
      const steps = p.processors.map((x) => buildProcessor(x, params))
      return { needsBody: steps.some((s) => s.needsBody), apply: (d) => steps.forEach((s) => s.apply(d)) }
    }
    default:
      throw badSecret(`${p.type} mints tokens through an OAuth exchange, which this tokenizer does not do yet`)
  }
}
