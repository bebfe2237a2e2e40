/**
 * Caveats: the restrictions a token carries. A request is allowed only if every
 * caveat allows it, so adding one can only narrow what a token reaches; two that
 * contradict (apps [a] then apps [b]) simply allow nothing.
 *
 *   const denial = checkCaveats(caveats, { app: 'web', action: 'read', now: Date.now() / 1000 })
 *   if (denial) throw …  // denial.caveat names the one that failed
 */
import { z } from 'zod'
import { cidrContains, parseCidr } from '../lib/cidr.ts'

/** What a request does: `write` is config and lifecycle, `exec` covers exec, console and files, `images` push/pull/import, `tokens` minting. */
export const actions = ['read', 'write', 'create', 'delete', 'exec', 'secrets', 'images', 'tokens'] as const
export type Action = (typeof actions)[number]

const name = z.string().min(1).max(256)
const unixSeconds = z.number().int().min(0).max(2 ** 40)
/** Unix seconds to the millisecond: `as_of` must order against an app's deletion made in the same second. */
const instant = z.number().min(0).max(2 ** 40)
const cidr = z.string().max(64).refine((s) => {
  try {
    parseCidr(s)
    return true
  } catch {
    return false
  }
}, 'not a CIDR block')

/** Strict: an unknown field (or an unknown type) makes the whole token malformed rather than silently ignored. */
export const caveatSchema = z.discriminatedUnion('type', [
  /**
   * `as_of`: when the names were given. A name whose app was deleted at or after it no longer reaches
   * anything, so a new app given the same name is not the token's. Absent (tokens from before it): the
   * token's own issue time.
   */
  z.strictObject({ type: z.literal('apps'), apps: z.array(name).max(256), as_of: instant.optional() }),
  z.strictObject({ type: z.literal('machines'), machines: z.array(name).max(256) }),
  z.strictObject({ type: z.literal('actions'), actions: z.array(z.enum(actions)).max(actions.length) }),
  z.strictObject({ type: z.literal('validity'), not_before: unixSeconds.optional(), not_after: unixSeconds.optional() })
    .refine((v) => v.not_before !== undefined || v.not_after !== undefined, 'a validity caveat needs not_before or not_after'),
  z.strictObject({ type: z.literal('source'), cidrs: z.array(cidr).max(64) }),
])
export type Caveat = z.infer<typeof caveatSchema>
export type CaveatType = Caveat['type']

/**
 * What a request touches. `listing` marks a route that lists a resource: the caveat on that
 * resource (and on machines, for a list of apps) lets it through and the caller filters the result.
 */
export interface Access {
  action: Action
  app?: string
  machine?: string
  listing?: 'apps' | 'machines'
  /**
   * A request about tokens, or about the tokenizer (its seal key, sealing a secret), touches no app or
   * machine, so those caveats let it through (minting checks narrowing itself; sealing needs only the public key).
   */
  about?: 'tokens' | 'tokenizer'
  /** Unix seconds. */
  now: number
  /** The caller's address as the socket saw it; unknown fails every source caveat. */
  source?: string
  /** Unix seconds: when an app named `app` was last deleted, if ever. */
  appDeletedAt?: number
  /** Unix seconds: when the token was issued, the `as_of` of apps caveats that carry none (unknown: the beginning of time). */
  issuedAt?: number
}

/** Why a request was refused: the failing caveat, its position in the token, and a sentence. */
export interface Denial {
  caveat: CaveatType
  index: number
  reason: string
  /** A validity failure means the token itself is no good now (401); anything else is a refusal (403). */
  expired: boolean
}

function deny(c: Caveat, index: number, reason: string, expired = false): Denial {
  return { caveat: c.type, index, reason, expired }
}

function checkOne(c: Caveat, i: number, a: Access): Denial | null {
  switch (c.type) {
    case 'validity':
      if (c.not_before !== undefined && a.now < c.not_before) return deny(c, i, `the token is not valid until ${new Date(c.not_before * 1000).toISOString()}`, true)
      if (c.not_after !== undefined && a.now >= c.not_after) return deny(c, i, `the token expired at ${new Date(c.not_after * 1000).toISOString()}`, true)
      return null
    case 'actions':
      return c.actions.includes(a.action) ? null : deny(c, i, `the token allows actions [${c.actions.join(', ')}], not ${a.action}`)
    case 'apps':
      if (a.about) return null
      if (a.app === undefined) return a.listing === 'apps' ? null : deny(c, i, 'the token is limited to apps, and this request names none')
      if (!c.apps.includes(a.app)) return deny(c, i, `the token is limited to apps [${c.apps.join(', ')}], not ${a.app}`)
      return renamed(c, a) ? deny(c, i, `app ${a.app} was deleted at ${new Date((a.appDeletedAt as number) * 1000).toISOString()}, after this token was given it; an app created with that name since is not the token's`) : null
    case 'machines':
      if (a.about) return null
      if (a.machine === undefined) return a.listing ? null : deny(c, i, 'the token is limited to machines, and this request names none')
      return c.machines.includes(a.machine) ? null : deny(c, i, `the token is limited to machines [${c.machines.join(', ')}], not ${a.machine}`)
    case 'source':
      if (a.source !== undefined && c.cidrs.some((b) => cidrContains(b, a.source as string))) return null
      return deny(c, i, `the token is limited to sources [${c.cidrs.join(', ')}], not ${a.source ?? 'an unknown address'}`)
  }
}

/** Whether the app named in `a` was deleted after the caveat named it (so any app of that name now is another one). */
function renamed(c: Extract<Caveat, { type: 'apps' }>, a: Pick<Access, 'appDeletedAt' | 'issuedAt'>): boolean {
  return a.appDeletedAt !== undefined && a.appDeletedAt >= (c.as_of ?? a.issuedAt ?? 0)
}

/** The first caveat refusing `access` (validity first, so an expired token reads as expired), or null when all allow it. */
export function checkCaveats(caveats: readonly Caveat[], access: Access): Denial | null {
  const order = [...caveats.keys()].sort((x, y) => Number(caveats[y]?.type === 'validity') - Number(caveats[x]?.type === 'validity'))
  for (const i of order) {
    const d = checkOne(caveats[i] as Caveat, i, access)
    if (d) return d
  }
  return null
}

/** Whether every apps caveat names `app`, and none named it before its app was deleted (for filtering a list of apps). */
export const mayReachApp = (caveats: readonly Caveat[], app: string, history: Pick<Access, 'appDeletedAt' | 'issuedAt'> = {}): boolean =>
  caveats.every((c) => c.type !== 'apps' || (c.apps.includes(app) && !renamed(c, history)))

/** Whether every machines caveat names `id` (for filtering a list of machines). */
export const mayReachMachine = (caveats: readonly Caveat[], id: string): boolean => caveats.every((c) => c.type !== 'machines' || c.machines.includes(id))

/** Whether every actions caveat names `action`. */
export const mayDo = (caveats: readonly Caveat[], action: Action): boolean => caveats.every((c) => c.type !== 'actions' || c.actions.includes(action))
