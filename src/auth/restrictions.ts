/**
 * Restrictions as people ask for them ({apps, machines, actions, expires_in, sources}) turned into
 * caveats: the one shape POST /v1/tokens, `hangar tokens attenuate` and the SDK's attenuate share.
 *   restrictionCaveats({ apps: ['web'], actions: ['read'], expires_in: 3600 })
 */
import type { Action, Caveat } from './caveats.ts'

export interface Restrictions {
  apps?: string[]
  machines?: string[]
  actions?: Action[]
  /** Seconds from now; rounded up to a whole second, so a token never lives shorter than asked. */
  expires_in?: number
  /** CIDR blocks the token may be used from. */
  sources?: string[]
}

export function restrictionCaveats(r: Restrictions, nowSeconds: number = Date.now() / 1000): Caveat[] {
  const out: Caveat[] = []
  // Dated, so the names never come to mean a new app given one of them after a deletion.
  if (r.apps) out.push({ type: 'apps', apps: r.apps, as_of: Math.floor(nowSeconds * 1000) / 1000 })
  if (r.machines) out.push({ type: 'machines', machines: r.machines })
  if (r.actions) out.push({ type: 'actions', actions: r.actions })
  if (r.expires_in !== undefined) out.push({ type: 'validity', not_after: Math.ceil(nowSeconds + r.expires_in) })
  if (r.sources) out.push({ type: 'source', cidrs: r.sources })
  return out
}
