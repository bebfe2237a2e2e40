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
import type { IncomingMessage } from 'node:http'
import type { Context } from 'hono'
import { attenuate, tokenPrefix } from '../../auth/index.ts'
import { RegistryError } from './errors.ts'

/** The caller's address as the socket saw it (undefined in-process). */
const sourceOf = (c: Context): string | undefined => (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket?.remoteAddress

/** Who a valid Hangar API token is, and which repositories it may pull from or push to. */
export interface Principal {
  name: string
  /** Null when the token may do `access` on `repo`; otherwise why not (a caveat's reason). */
  denies(repo: string, access: 'pull' | 'push'): string | null
}

/** The principal behind a Hangar API token (seen from `source`), else null. */
export type VerifyToken = (token: string, source?: string) => Principal | null

/** Opaque (root) tokens carry no caveats: their short-lived /v2 tokens may do anything. */
const unrestricted = (name: string): Principal => ({ name, denies: () => null })

/** Docker's token spec asks for at least 60 s; five minutes covers a slow layer between requests. */
const tokenTtlSeconds = 300
const service = 'hangar'

export class RegistryAuth {
  #verify: VerifyToken
  #key = randomBytes(32)

  constructor(verify: VerifyToken) {
    this.#verify = verify
  }

  /** The caller; throws UNAUTHORIZED (with the challenge) when there is none. */
  check(c: Context, scope?: string): Principal {
    const who = this.#credentials(c.req.header('authorization'), true, sourceOf(c))
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
    let apiToken = this.#password(c.req.header('authorization'))
    // Unauthenticated, so the body is read only when small: a form of a few fields, never a stream.
    if (apiToken === null && c.req.method === 'POST' && Number(c.req.header('content-length') ?? Infinity) <= 8192) {
      const form = new URLSearchParams(await c.req.text())
      if (form.get('grant_type') === 'password') apiToken = form.get('password')
    }
    const who = apiToken === null ? null : this.#verify(apiToken, sourceOf(c))
    if (!who || apiToken === null) {
      throw new RegistryError('UNAUTHORIZED', 'send Basic credentials whose password is a Hangar API token', null, {
        headers: { 'www-authenticate': `Basic realm="${service}"` },
      })
    }
    const issued = new Date()
    const exp = Math.floor(issued.getTime() / 1000) + tokenTtlSeconds
    // A macaroon's short-lived token is itself with a validity caveat: its caveats and its revocation
    // keep applying, and a leaked copy is good for five minutes, not for as long as the original.
    const token = apiToken.startsWith(tokenPrefix) ? attenuate(apiToken, [{ type: 'validity', not_after: exp }]) : this.#issue(who.name, exp)
    return Response.json({ token, access_token: token, expires_in: tokenTtlSeconds, issued_at: issued.toISOString() })
  }

  /** The caller behind an Authorization header; short-lived tokens only count on /v2 requests, not to mint more. */
  #credentials(header: string | undefined, allowIssued: boolean, source: string | undefined): Principal | null {
    const m = /^(Bearer|Basic)\s+(\S+)$/i.exec(header?.trim() ?? '')
    if (!m) return null
    if (m[1]!.toLowerCase() === 'bearer' && m[2]!.startsWith('hgreg.')) {
      if (!allowIssued) return null
      const sub = this.#open(m[2]!)
      return sub === null ? null : unrestricted(sub)
    }
    const token = this.#password(header)
    return token === null ? null : this.#verify(token, source)
  }

  /** The API token in a Bearer header, or the password of Basic credentials (any username). */
  #password(header: string | undefined): string | null {
    const m = /^(Bearer|Basic)\s+(\S+)$/i.exec(header?.trim() ?? '')
    if (!m) return null
    if (m[1]!.toLowerCase() === 'bearer') return m[2]!.startsWith('hgreg.') ? null : m[2]!
    const plain = Buffer.from(m[2]!, 'base64').toString()
    const colon = plain.indexOf(':')
    return colon === -1 ? null : plain.slice(colon + 1)
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
