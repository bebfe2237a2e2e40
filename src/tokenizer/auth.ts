/**
 * Who may use a secret: its auth block against the request's Proxy-Authorization headers, as
 * superfly/tokenizer's authorizer.go checks them. Each header line is `Bearer <t>`, `FlyV1 <t>` or
 * `Basic <base64 user:t>` (the password, also URL-unescaped); bearer_auth holds base64 SHA-256 of
 * the token, compared in constant time. Auth that needs Fly's platform is refused here by name.
 *
 *   const presented = presentedTokens(req.headersDistinct['proxy-authorization'])
 *   checkAuth(secret.auth, presented)       // throws tokenizer_unauthorized (407)
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { HangarError } from '../errors.ts'
import { decodeBase64 } from './keys.ts'
import type { Auth } from './secret.ts'

/** The SHA-256 of each token a client presented (hashed once per request, whatever the number of secrets). */
export interface Presented {
  digests: Buffer[]
}

export function presentedTokens(headerLines: readonly string[] | undefined): Presented {
  const tokens: string[] = []
  for (const line of headerLines ?? []) {
    const sp = line.indexOf(' ')
    if (sp < 0) continue
    const scheme = line.slice(0, sp)
    const rest = line.slice(sp + 1)
    if (scheme === 'Bearer' || scheme === 'FlyV1') tokens.push(rest)
    else if (scheme === 'Basic') {
      const raw = decodeBase64(rest)?.toString('utf8')
      const colon = raw?.indexOf(':') ?? -1
      if (raw === undefined || colon < 0) continue
      const pw = raw.slice(colon + 1)
      tokens.push(pw)
      try {
        tokens.push(decodeURIComponent(pw.replace(/\+/g, ' ')))
      } catch {
        // Not URL-escaped: the password as sent is the only candidate.
      }
    }
  }
  return { digests: tokens.map((t) => createHash('sha256').update(t).digest()) }
}

const unauthorized = (why: string, hint?: string): HangarError => new HangarError('tokenizer_unauthorized', why, hint ? { hint } : {})

export function checkAuth(auth: Auth, presented: Presented): void {
  switch (auth.type) {
    case 'no_auth':
      return
    case 'bearer_auth': {
      const want = auth.digest
      if (want && want.length === 32 && presented.digests.some((d) => timingSafeEqual(d, want))) return
      throw unauthorized(presented.digests.length ? 'no Proxy-Authorization token matches the secret\'s bearer_auth' : 'the secret needs Proxy-Authorization and the request has none')
    }
    case 'fly_src_auth':
      throw unauthorized('the secret uses fly_src_auth, which only Fly\'s own proxy can vouch for; a self-hosted tokenizer cannot check it', 'seal the secret again with bearer_auth or no_auth')
    case 'flyio_macaroon_auth':
      throw unauthorized('the secret uses flyio_macaroon_auth, which is checked against Fly\'s token service; a self-hosted tokenizer cannot check it', 'seal the secret again with bearer_auth or no_auth')
    case 'macaroon_auth':
      throw unauthorized('the secret uses macaroon_auth (superfly/macaroon tokens), which this tokenizer does not check yet', 'seal the secret again with bearer_auth or no_auth')
  }
}
