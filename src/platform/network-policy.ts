/**
 * An app's egress policy, in the shape of Sprites' network policy (`{rules: [{domain, action}]}`)
 * with CIDR blocks beside domains: an ordered list, the first rule that holds a destination
 * decides (allow or deny); past the rules, the defaults (the internet through NAT; private,
 * link-local and loopback ranges refused). Stored in the state database, enforced on the host
 * by the runtime's firewall, which keeps its own copy so the rules hold while the daemon is down.
 *
 *   await platform.networkPolicy.set('myapp', { rules: [{ cidr: '10.0.5.0/24', action: 'allow' }, { cidr: '0.0.0.0/0', action: 'deny' }] })
 */
import { z } from 'zod'
import { HangarError } from '../errors.ts'
import { CidrError, parseCidr } from '../lib/cidr.ts'
import type { EgressRule } from '../runtime/types.ts'
import type { Ctx } from './context.ts'
import { parse } from './validate.ts'

const action = z.enum(['allow', 'deny']).describe('what a matching destination gets')
const domainRe = /^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i
export const networkPolicySchema = z.strictObject({
  rules: z.array(z.union([
    z.strictObject({ cidr: z.string().min(1).max(64).describe('IPv4 or IPv6 address or CIDR block'), action }),
    z.strictObject({ domain: z.string().regex(domainRe, 'a domain name such as example.com or *.example.com').describe('domain name'), action }),
  ])).max(256, 'at most 256 rules').describe('first match wins; past the rules, the defaults'),
})

export interface NetworkPolicyView {
  rules: EgressRule[]
  /** When the rules were last set; null for an app on the defaults. */
  updated_at: string | null
}

export function networkPolicyService(ctx: Ctx) {
  const { store, driver } = ctx

  function load(app: string): void {
    if (!store.apps.get(app)) throw new HangarError('app_not_found', `app not found: ${app}`)
  }

  return {
    get(app: string): NetworkPolicyView {
      load(app)
      const row = store.apps.networkPolicy(app)
      return row ? { rules: JSON.parse(row.rules) as EgressRule[], updated_at: row.updated_at } : { rules: [], updated_at: null }
    },

    /** Replaces the app's rules; in force on the host when this returns. A bad rule changes nothing. */
    async set(app: string, input: unknown): Promise<NetworkPolicyView> {
      load(app)
      const req = parse(networkPolicySchema, input, 'network policy')
      const rules: EgressRule[] = req.rules.map((r, i) => {
        if ('domain' in r) {
          throw new HangarError('invalid_argument', `rules[${i}]: domain rules (${r.domain}) are not enforced yet`, {
            hint: 'give the addresses as cidr rules, e.g. {"cidr": "203.0.113.0/24", "action": "allow"}',
          })
        }
        try {
          return { cidr: parseCidr(r.cidr).cidr, action: r.action }
        } catch (e) {
          if (e instanceof CidrError) throw new HangarError('invalid_argument', `rules[${i}].cidr: ${e.message}`)
          throw e
        }
      })
      if (!driver.setEgressPolicy) throw new HangarError('unavailable', `the ${driver.name} runtime cannot enforce egress policies`)
      // The host first: a policy in the database that the firewall never got would be a lie.
      await driver.setEgressPolicy(app, rules)
      const at = new Date().toISOString()
      store.apps.setNetworkPolicy(app, JSON.stringify(rules), at)
      return { rules, updated_at: at }
    },

    /** At start: the runtime holds exactly what the database says. */
    async pushAll(): Promise<void> {
      if (!driver.setEgressPolicy) return
      for (const row of store.apps.networkPolicies()) await driver.setEgressPolicy(row.app_name, JSON.parse(row.rules) as EgressRule[])
    },
  }
}
