/** /v1/tokens: mint a narrower token, list the ones the caller may see, revoke by id. */
import type { Platform } from '../../platform/index.ts'
import { createTokenSchema } from '../../platform/index.ts'
import { callerOf, readJson, type RouteDef } from './route.ts'

export function tokenRoutes(platform: Platform): RouteDef[] {
  const tokens = platform.tokens
  return [
    {
      method: 'post', path: '/v1/tokens', access: { action: 'tokens', about: 'tokens' }, tag: 'tokens', body: createTokenSchema, status: 201,
      summary: 'Mint a macaroon carrying the caller\'s caveats plus the asked-for ones (apps, machines, actions, expires_in in seconds or "1h"); the token is shown once',
      handler: async (c) => c.json(tokens.create(callerOf(c), await readJson(c)), 201),
    },
    {
      method: 'get', path: '/v1/tokens', access: { action: 'tokens', about: 'tokens' }, tag: 'tokens',
      summary: 'List tokens: all for the root token, otherwise the caller\'s own and those minted from it (ids, caveats, last use; never the secret)',
      handler: (c) => c.json({ tokens: tokens.list(callerOf(c)) }),
    },
    {
      method: 'delete', path: '/v1/tokens/:token_id', access: { action: 'tokens', about: 'tokens' }, tag: 'tokens',
      summary: 'Revoke a token and every token minted from it, on every surface at once',
      handler: (c) => c.json(tokens.revoke(callerOf(c), c.req.param('token_id') as string)),
    },
  ]
}
