/**
 * Who may use /v2. A Hangar API token works three ways, so every client's
 * login flow does: `Authorization: Bearer <api token>`; Basic auth with the
 * token as password (any username); and Docker's token flow, where a 401's
 * `WWW-Authenticate: Bearer realm=…/v2/token` sends the client to the token
 * endpoint with Basic credentials to fetch a short-lived bearer token.
 * Those short-lived tokens are HMACs under a key made at start, so a daemon
 * restart ends them and clients simply log in again on the next 401.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Context } from 'hono'
import { RegistryError } from './errors.ts'

/** Returns the token's name for a valid Hangar API token, else null. */
export type VerifyToken = (token: string) => string | null

/** Docker's token spec asks for at least 60 s; five minutes covers a slow layer between requests. */
const tokenTtlSeconds = 300
const service = 'hangar'

export class RegistryAuth {
  #verify: VerifyToken
  #key = randomBytes(32)

  constructor(verify: VerifyToken) {
    this.#verify = verify
  }

  /** The caller's token name; throws UNAUTHORIZED (with the challenge) when there is none. */
  check(c: Context, scope?: string): string {
    const who = this.#credentials(c.req.header('authorization'), true)
    if (who) return who
    const base = new URL(c.req.url).origin
    const challenge = `Bearer realm="${base}/v2/token",service="${service}"${scope ? `,scope="${scope}"` : ''}`
    throw new RegistryError('UNAUTHORIZED', 'authentication required: use a Hangar API token as the password, or as a bearer token', null, {
      headers: { 'www-authenticate': challenge },
    })
  }

  /**
   * GET /v2/token (Docker token spec) and POST /v2/token (its OAuth2 password grant, which docker tries first).
   * Basic credentials in, `{token, access_token, expires_in, issued_at}` out; no anonymous tokens.
   */
  async token(c: Context): Promise<Response> {
    let who = this.#credentials(c.req.header('authorization'), false)
    // Unauthenticated, so the body is read only when small: a form of a few fields, never a stream.
    if (!who && c.req.method === 'POST' && Number(c.req.header('content-length') ?? Infinity) <= 8192) {
      const form = new URLSearchParams(await c.req.text())
      if (form.get('grant_type') === 'password') who = this.#verify(form.get('password') ?? '')
    }
    if (!who) {
      throw new RegistryError('UNAUTHORIZED', 'send Basic credentials whose password is a Hangar API token', null, {
        headers: { 'www-authenticate': `Basic realm="${service}"` },
      })
    }
    const issued = new Date()
    const token = this.#issue(who, Math.floor(issued.getTime() / 1000) + tokenTtlSeconds)
    return Response.json({ token, access_token: token, expires_in: tokenTtlSeconds, issued_at: issued.toISOString() })
  }

  /** The token name behind an Authorization header; short-lived tokens only count on /v2 requests, not to mint more. */
  #credentials(header: string | undefined, allowIssued: boolean): string | null {
    const m = /^(Bearer|Basic)\s+(\S+)$/i.exec(header?.trim() ?? '')
    if (!m) return null
    if (m[1]!.toLowerCase() === 'basic') {
      const plain = Buffer.from(m[2]!, 'base64').toString()
      const colon = plain.indexOf(':')
      return colon === -1 ? null : this.#verify(plain.slice(colon + 1))
    }
    if (m[2]!.startsWith('hgreg.')) return allowIssued ? this.#open(m[2]!) : null
    return this.#verify(m[2]!)
  }

  #issue(name: string, exp: number): string {
    const payload = Buffer.from(JSON.stringify({ sub: name, exp })).toString('base64url')
    return `hgreg.${payload}.${this.#sign(payload)}`
  }

  #open(token: string): string | null {
    const [, payload = '', sig = ''] = token.split('.')
    const want = Buffer.from(this.#sign(payload))
    const got = Buffer.from(sig)
    if (got.length !== want.length || !timingSafeEqual(got, want)) return null
    try {
      const { sub, exp } = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { sub: string; exp: number }
      return exp * 1000 > Date.now() && typeof sub === 'string' ? sub : null
    } catch {
      return null
    }
  }

  #sign(payload: string): string {
    return createHmac('sha256', this.#key).update(payload).digest('base64url')
  }
}
