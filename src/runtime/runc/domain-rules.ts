/**
 * How a group's domain rules judge a DNS name (pure; the forwarder asks, the firewall
 * enforces). The first domain rule whose pattern matches decides; CIDR rules play no part
 * here, they judge packets. Patterns: `example.com` (that name only), `*.example.com` (any
 * name under it, at any depth, not example.com itself), `*` (every name).
 *
 *   judgeName([{ domain: '*.npmjs.org', action: 'allow' }, { domain: '*', action: 'deny' }], 'registry.npmjs.org')
 *   // { action: 'allow', learn: true }
 */
import type { EgressRule } from '../types.ts'

export interface NameVerdict {
  action: 'allow' | 'deny'
  /**
   * Whether the answer's addresses join the group's allowed set: only for a rule that names
   * domains, not `*` — allowing every name is about resolving, and must not open every address.
   */
  learn: boolean
}

/** Addresses learned from an answer stay allowed at least this long, so a short TTL still leaves time to connect. */
export const MIN_LEARN_SECONDS = 60
/** …and at most this long: a week-long TTL should not keep an address open for a week. */
export const MAX_LEARN_SECONDS = 86_400

/** Lower case, no trailing dot: how names are compared. */
export function canonicalName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '')
}

export function nameMatches(pattern: string, name: string): boolean {
  const n = canonicalName(name)
  if (pattern === '*') return true
  if (pattern.startsWith('*.')) return n.endsWith(pattern.slice(1))
  return n === pattern
}

/** The verdict of the first domain rule matching `name`, or null when none does (the name resolves, nothing is learned). */
export function judgeName(rules: EgressRule[], name: string): NameVerdict | null {
  for (const r of rules) {
    if (!('domain' in r) || !nameMatches(r.domain, name)) continue
    return { action: r.action, learn: r.action === 'allow' && r.domain !== '*' }
  }
  return null
}

export function hasDomainRules(rules: EgressRule[] | undefined): boolean {
  return (rules ?? []).some((r) => 'domain' in r)
}

/** How long a learned address stays in the set, from the record's TTL. */
export function learnSeconds(ttl: number): number {
  return Math.min(MAX_LEARN_SECONDS, Math.max(MIN_LEARN_SECONDS, Math.floor(ttl)))
}
