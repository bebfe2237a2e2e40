/**
 * hangar.tokens: mint, list and revoke macaroons on the daemon; `attenuate` and `inspect`
 * work offline on a token string (no daemon, no key: anyone holding a token may narrow it).
 *   const { token } = await hangar.tokens.create({ apps: ['web'], actions: ['read'], expires_in: '1h' })
 *   const forSubAgent = attenuate(token, { machines: [id], expires_in: 600 })
 */
import { decodeMacaroon, attenuate as appendCaveats, restrictionCaveats, type Caveat, type Restrictions } from '../auth/index.ts'
import type { Http } from './http.ts'
import type { TokenView } from '../platform/index.ts'

export type { Action, Caveat, Restrictions } from '../auth/index.ts'
export { actions } from '../auth/index.ts'

export interface CreateTokenRequest {
  apps?: string[]
  machines?: string[]
  actions?: Restrictions['actions']
  /** Seconds, or a Go duration ("1h"). */
  expires_in?: number | string
  sources?: string[]
  description?: string
}

/** A token as the daemon lists it (never its secret). */
export type TokenInfo = TokenView

export class Tokens {
  #http: Http
  constructor(http: Http) {
    this.#http = http
  }

  /** A new token carrying this client's token's caveats plus these; the secret is in `token`, shown once. */
  create(req: CreateTokenRequest = {}): Promise<TokenInfo & { token: string }> {
    return this.#http.json('POST', '/v1/tokens', { body: req })
  }

  /** Every token the root token sees, or a scoped token's own and those minted from it. */
  async list(): Promise<TokenInfo[]> {
    return (await this.#http.json<{ tokens: TokenInfo[] }>('GET', '/v1/tokens')).tokens
  }

  /** Revokes the id and every token minted from it; `revoked` counts them. */
  revoke(id: string): Promise<{ id: string; revoked: number }> {
    return this.#http.json('DELETE', `/v1/tokens/${encodeURIComponent(id)}`)
  }
}

/**
 * A narrower token, offline: `token` plus caveats for these restrictions (or raw caveats). It can never
 * reach more than `token`; the daemon checks every caveat. Only Hangar macaroons (hm1_…) attenuate.
 */
export function attenuate(token: string, restrictions: Restrictions | Caveat[]): string {
  return appendCaveats(token, Array.isArray(restrictions) ? restrictions : restrictionCaveats(restrictions))
}

/** The token's id and caveats, read offline; its signature is not checked (only the daemon can). */
export function inspect(token: string): { id: string; caveats: Caveat[] } {
  const { id, caveats } = decodeMacaroon(token)
  return { id, caveats }
}
