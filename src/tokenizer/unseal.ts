/**
 * From a request's Proxy-Tokenizer headers to the processors to run, in superfly/tokenizer's
 * order: each header is `<base64 sealed secret>[; {json params}]`; each secret is opened, its auth
 * checked against Proxy-Authorization, its host rules against where the request goes, and its
 * processor built with the params. Every secret must pass; the first that does not refuses the
 * request. Opened secrets are kept (by their sealed text) for the next request that sends them.
 *
 *   const u = new Unsealer(keys)
 *   const { steps, secrets } = u.unseal(req.headersDistinct['proxy-tokenizer'], req.headersDistinct['proxy-authorization'], 'api.example.com')
 */
import { HangarError } from '../errors.ts'
import { checkAuth, presentedTokens } from './auth.ts'
import { checkHosts } from './hosts.ts'
import type { Keys } from './keys.ts'
import { buildProcessor, type Params, type Step } from './processors.ts'
import { parseSecret, redact, type Secret } from './secret.ts'

/** More secrets than this on one request is not a real client. */
export const maxSecretsPerRequest = 8
const cacheSize = 1024

const badHeader = (why: string): HangarError =>
  new HangarError('tokenizer_bad_request', `Proxy-Tokenizer: ${why}`, { hint: 'send Proxy-Tokenizer: <sealed secret> or <sealed secret>; {"dst": "…", "fmt": "…"} (params are a JSON object of strings)' })

/** `<sealed>[; {params}]`: the sealed text and the params (a JSON object of strings; null reads as ""). */
export function parseTokenizerHeader(value: string): { sealed: string; params: Params } {
  const semi = value.indexOf(';')
  const sealed = (semi < 0 ? value : value.slice(0, semi)).trim()
  const json = semi < 0 ? '' : value.slice(semi + 1).trim()
  if (!sealed) throw badHeader('no sealed secret before the ";"')
  if (!json) return { sealed, params: {} }
  let o: unknown
  try {
    o = JSON.parse(json)
  } catch {
    throw badHeader('the params after ";" are not JSON')
  }
  if (o === null) return { sealed, params: {} }
  if (typeof o !== 'object' || Array.isArray(o)) throw badHeader('the params after ";" are not a JSON object')
  const params: Params = {}
  for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
    if (v !== null && typeof v !== 'string') throw badHeader(`param ${JSON.stringify(k).slice(0, 40)} is not a string`)
    params[k] = v ?? ''
  }
  return { sealed, params }
}

export class Unsealer {
  #keys: Keys
  #opened = new Map<string, Secret>()

  constructor(keys: Keys) {
    this.#keys = keys
  }

  /** The secret a sealed text holds; throws tokenizer_bad_seal or tokenizer_bad_secret. */
  open(sealed: string): Secret {
    const hit = this.#opened.get(sealed)
    if (hit) {
      // Most recently used last, so the oldest goes first when full.
      this.#opened.delete(sealed)
      this.#opened.set(sealed, hit)
      return hit
    }
    const secret = parseSecret(this.#keys.open(sealed))
    if (this.#opened.size >= cacheSize) this.#opened.delete(this.#opened.keys().next().value as string)
    this.#opened.set(sealed, secret)
    return secret
  }

  unseal(headers: readonly string[] | undefined, auth: readonly string[] | undefined, authority: string): { steps: Step[]; secrets: Record<string, unknown>[] } {
    const steps: Step[] = []
    const secrets: Record<string, unknown>[] = []
    if (!headers?.length) return { steps, secrets }
    if (headers.length > maxSecretsPerRequest) throw badHeader(`${headers.length} headers; at most ${maxSecretsPerRequest} secrets per request`)
    const presented = presentedTokens(auth)
    for (const h of headers) {
      const { sealed, params } = parseTokenizerHeader(h)
      const secret = this.open(sealed)
      secrets.push(redact(secret))
      checkAuth(secret.auth, presented)
      checkHosts(secret, authority)
      steps.push(buildProcessor(secret.processor, params))
    }
    return { steps, secrets }
  }
}
