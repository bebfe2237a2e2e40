/**
 * An app's egress policy, in the shape of Sprites' network policy (`{rules: [{domain, action}]}`)
 * with CIDR blocks beside domains: an ordered list, first match wins; past the rules, the
 * defaults (the internet through NAT; private, link-local and loopback ranges refused). Domain
 * rules (`example.com`, `*.example.com`, `*`) judge DNS names: a denied name does not resolve,
 * an allowed name's addresses are reachable ahead of the CIDR rules, and `{domain: "*", action:
 * "deny"}` also drops every address no earlier rule allowed. Stored in the state database,
 * enforced on the host by the runtime, which keeps its own copy so the rules hold while the
 * daemon is down.
 *
 *   await platform.networkPolicy.set('myapp', { rules: [{ domain: 'api.github.com', action: 'allow' }, { domain: '*', action: 'deny' }] })
 */
import { HangarError } from '../errors.ts'
import { CidrError, parseCidr } from '../lib/cidr.ts'
import { DomainPatternError, parseDomainPattern } from '../lib/domain-pattern.ts'
import type { EgressRule } from '../runtime/types.ts'
import type { Ctx } from './context.ts'
import { parse } from './validate.ts'

export { networkPolicySchema } from '../ops/schemas.ts'
import { networkPolicySchema } from '../ops/schemas.ts'

export interface NetworkPolicyView {
  rules: EgressRule[]
  /** When the rules were last set; null for an app on the defaults. */
  updated_at: string | null
}

/** `onChange`: told after an app's rules changed (the tokenizer's egress judge reads them again). */
export function networkPolicyService(ctx: Ctx, onChange?: (app: string) => void) {
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
        if ('include' in r) {
          throw new HangarError('invalid_argument', `rules[${i}]: include presets ("${r.include}") are not supported`, {
            hint: 'list the domains to allow, e.g. {"domain": "*.npmjs.org", "action": "allow"}',
          })
        }
        if ('domain' in r) {
          try {
            return { domain: parseDomainPattern(r.domain), action: r.action }
          } catch (e) {
            if (e instanceof DomainPatternError) throw new HangarError('invalid_argument', `rules[${i}].domain: ${e.message}`)
            throw e
          }
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
      onChange?.(app)
      return { rules, updated_at: at }
    },

    /** At start: the runtime holds exactly what the database says. */
    async pushAll(): Promise<void> {
      if (!driver.setEgressPolicy) return
      for (const row of store.apps.networkPolicies()) await driver.setEgressPolicy(row.app_name, JSON.parse(row.rules) as EgressRule[])
    },
  }
}
