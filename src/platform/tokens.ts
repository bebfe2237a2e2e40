/**
 * API tokens. Only a SHA-256 of each token is stored; the root token is
 * written once to <data-dir>/root-token (0600) on first start.
 */
import { createHash, randomBytes } from 'node:crypto'
import { ulid } from '../lib/ids.ts'
import type { Store, TokenRow } from '../store/index.ts'

const generate = (): string => `hgr_${randomBytes(32).toString('base64url')}`

const hash = (token: string): string => createHash('sha256').update(token).digest('hex')

export function tokensService(store: Store) {
  return {
    /** Issues a new token; the plain text is returned once and never stored. */
    issue(name: string): string {
      const token = generate()
      this.register(name, token)
      return token
    },

    /** A new token, not yet valid: for callers that must save it somewhere before it works. */
    generate,

    /** Makes `token` valid under `name`. */
    register(name: string, token: string): void {
      store.tokens.insert({ id: ulid(), name, hash: hash(token), created_at: new Date().toISOString() })
    },

    /** The token's record, from an Authorization header value ("Bearer x" or Fly's "FlyV1 x"). */
    verify(header: string | undefined): TokenRow | undefined {
      const m = /^(?:Bearer|FlyV1)\s+(\S+)$/i.exec(header?.trim() ?? '')
      return m ? store.tokens.byHash(hash(m[1] as string)) : undefined
    },

    any(): boolean {
      return store.tokens.count() > 0
    },
  }
}

export type TokensService = ReturnType<typeof tokensService>
