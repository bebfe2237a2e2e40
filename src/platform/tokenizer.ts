/**
 * Sealing secrets for the tokenizer, and where it is. The input is superfly/tokenizer's own secret
 * JSON (its field names), checked strictly, with two conveniences: `bearer_auth: {token}` (hashed
 * here, only the digest is sealed) and defaults for `hash` (sha256) and `no_swap` (true). A secret
 * must name where it may be sent (allowed_hosts or allowed_host_pattern): without one, a robot
 * holding the sealed value could send the credential to an echo server and read it back.
 *
 *   const { sealed } = await platform.tokenizer.seal({ inject_processor: { token }, bearer_auth: { token: 't' }, allowed_hosts: ['api.example.com'] })
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { HangarError } from '../errors.ts'
import { checkSealable, parseSecret, seal } from '../tokenizer/index.ts'
import { parse } from './validate.ts'

export interface TokenizerDeps {
  /** Hex X25519 public key of the tokenizer's open key. */
  sealKey: string
  /** Where it listens, once it does: for machines (their gateway) and for the host (loopback). */
  where(): { address: string | null; host_address: string | null }
}

export interface TokenizerInfo {
  seal_key: string
  /** The proxy URL machines use (http_proxy), on their network's gateway. */
  address: string | null
  /** The same tokenizer on the host's loopback. */
  host_address: string | null
}

/** A sealed secret goes in a request header: past this it would not fit beside the rest. */
const maxSealedChars = 8192

const base64 = z.string().max(8192).regex(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, 'expected standard base64 (with padding)')
const credential = z.string().min(1).max(8192)
const names = z.array(z.string().min(1).max(256)).min(1).max(64)
const placement = { dst: z.string().min(1).max(128).optional(), fmt: z.string().min(1).max(256).optional(), allowed_dst: names.optional(), allowed_fmt: names.optional() }
const oauthToken = z.strictObject({ access_token: credential, refresh_token: credential.optional() })
const placeholder = z.string().min(1).max(256).optional()

const single = {
  inject_processor: z.strictObject({ token: credential, ...placement }).optional(),
  inject_hmac_processor: z.strictObject({ key: base64.min(1), hash: z.literal('sha256').default('sha256'), ...placement }).optional(),
  inject_body_processor: z.strictObject({ token: credential, placeholder }).optional(),
  oauth2_processor: z.strictObject({ token: oauthToken }).optional(),
  oauth2_body_processor: z.strictObject({ token: oauthToken, placeholder }).optional(),
  // no_swap defaults to the correct order; superfly's zero value (false) swaps region and service for old secrets.
  sigv4_processor: z.strictObject({ access_key: credential, secret_key: credential, no_swap: z.boolean().default(true) }).optional(),
}
const processorKeys = [...Object.keys(single), 'multi_processor']

const exactlyOne = (keys: string[], what: string) => (o: Record<string, unknown>, ctx: z.RefinementCtx): void => {
  const n = keys.filter((k) => o[k] !== undefined).length
  if (n !== 1) ctx.addIssue({ code: 'custom', message: `needs exactly one ${what} (${keys.join(', ')}); it has ${n}` })
}

/** One processor, as a multi_processor entry holds it (one level: superfly's nesting adds nothing a flat list cannot say). */
const processorEntry = z.strictObject(single).superRefine(exactlyOne(Object.keys(single), 'processor'))

export const sealSchema = z
  .strictObject({
    ...single,
    multi_processor: z.array(processorEntry).min(1).max(8).optional(),
    bearer_auth: z.strictObject({ digest: base64.optional(), token: credential.optional() })
      .refine((a) => (a.digest === undefined) !== (a.token === undefined), 'give token (hashed here) or digest (base64 SHA-256 of it), not both')
      .optional(),
    no_auth: z.strictObject({}).optional(),
    allowed_hosts: names.optional(),
    allowed_host_pattern: z.string().min(1).max(1024).optional(),
  })
  .superRefine(exactlyOne(processorKeys, 'processor'))
  .superRefine(exactlyOne(['bearer_auth', 'no_auth'], 'auth block'))
  .refine((s) => s.allowed_hosts !== undefined || s.allowed_host_pattern !== undefined, {
    message: 'name where the secret may be sent (allowed_hosts or allowed_host_pattern): without it, anyone holding the sealed value can have the credential sent to a server that shows it back',
  })

export type SealInput = z.input<typeof sealSchema>

export function tokenizerService(deps: TokenizerDeps | undefined) {
  const need = (): TokenizerDeps => {
    if (!deps) throw new HangarError('unavailable', 'this daemon runs no tokenizer', { hint: 'start the daemon with its tokenizer (the default)' })
    return deps
  }
  return {
    info(): TokenizerInfo {
      const d = need()
      return { seal_key: d.sealKey, ...d.where() }
    },

    /** Checks the secret as the tokenizer will read it, then seals it to the tokenizer's key. */
    async seal(input: unknown): Promise<{ sealed: string }> {
      const d = need()
      const unusable = ['fly_src_auth', 'flyio_macaroon_auth', 'macaroon_auth'].find((k) => typeof input === 'object' && input !== null && k in input)
      if (unusable) {
        throw new HangarError('invalid_argument', `${unusable} cannot be checked by a self-hosted tokenizer (it needs Fly's proxy, Fly's token service or superfly/macaroon tokens)`, { hint: 'use bearer_auth ({"token": "…"} or {"digest": "…"}) or no_auth' })
      }
      const s = parse(sealSchema, input, 'secret')
      const { bearer_auth: bearer, ...rest } = s
      const wire = {
        ...rest,
        ...(bearer ? { bearer_auth: { digest: bearer.digest ?? createHash('sha256').update(bearer.token as string).digest('base64') } } : {}),
      }
      const json = JSON.stringify(wire)
      // The same reading a request gets: what seals here opens there.
      checkSealable(parseSecret(json))
      const sealed = await seal(json, d.sealKey)
      if (sealed.length > maxSealedChars) {
        throw new HangarError('invalid_argument', `the sealed secret would be ${sealed.length} characters; a request header holds at most ${maxSealedChars}`, { hint: 'seal a shorter credential, or split a multi_processor into several secrets' })
      }
      return { sealed }
    },
  }
}
