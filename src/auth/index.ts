/**
 * Tokens as macaroons: HMAC-chained caveats a holder can add to, never remove.
 * Pure code (node:crypto and zod): the daemon verifies with it, the SDK and CLI attenuate offline with it.
 *   const narrower = attenuate(token, [{ type: 'apps', apps: ['web'] }])
 *   const { id, caveats } = decodeMacaroon(narrower)
 *   const denial = checkCaveats(caveats, { app: 'web', action: 'read', now: Date.now() / 1000 })
 */
export { attenuate, decodeMacaroon, mint, newTokenId, tokenPrefix, verifyMacaroon, type Macaroon } from './macaroon.ts'
export { actions, caveatSchema, checkCaveats, mayDo, mayReachApp, mayReachMachine, type Access, type Action, type Caveat, type CaveatType, type Denial } from './caveats.ts'
export { restrictionCaveats, type Restrictions } from './restrictions.ts'
