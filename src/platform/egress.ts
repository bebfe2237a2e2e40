/**
 * An app's egress policy applied to what its machines send through the tokenizer, so the
 * tokenizer is not a way around it. The sender is known by its source address on the bridge
 * (which the firewall holds to its machine). The same order as on the wire: the first domain rule
 * matching the name decides first (deny: refused; a named allow: allowed, ahead of the CIDR
 * rules); then the resolved address meets the CIDR rules in order, where `{domain: "*", action:
 * "deny"}` drops what no earlier rule allowed; then the defaults, which the tokenizer's own address
 * policy applies to everyone.
 *
 *   const j = egress.judge('10.209.0.7', 'api.example.com')
 *   // null (no rules), { refused } or { key, address(ip) → reason | null }
 */
import { isIP } from 'node:net'
import { cidrContains } from '../lib/cidr.ts'
import { judgeName } from '../runtime/index.ts'
import type { EgressRule } from '../runtime/types.ts'
import type { Ctx } from './context.ts'

export type EgressJudgement = { refused: string } | { key: string; address(ip: string): string | null } | null

/** One app's rules (non-empty) applied to a host: pure, the order the firewall uses. */
export function judgeRules(list: readonly EgressRule[], key: string, hostname: string): EgressJudgement {
  if (!isIP(hostname)) {
    const v = judgeName([...list], hostname)
    if (v?.action === 'deny') return { refused: `the app's egress policy denies ${hostname}` }
    if (v?.learn) return { key, address: () => null }
  }
  return {
    key,
    address(ip) {
      for (const rule of list) {
        if ('cidr' in rule && cidrContains(rule.cidr, ip)) return rule.action === 'allow' ? null : `the app's egress policy denies ${ip} (${rule.cidr})`
        if ('domain' in rule && rule.domain === '*' && rule.action === 'deny') return `the app's egress policy denies ${ip} (every address no rule allows)`
      }
      return null
    },
  }
}

/** Machines' addresses are read again at most this often when an unknown address asks. */
const refreshMs = 1000

export function egressJudge(ctx: Ctx) {
  let byAddress: Map<string, string> | null = null
  let builtAt = 0
  const rules = new Map<string, { key: string; list: EgressRule[] }>()
  // Any machine event may move an address (or an app may be gone and made again); policy changes call forget().
  ctx.events.subscribe(() => {
    byAddress = null
    rules.clear()
  })

  const addresses = (): Map<string, string> => {
    if (byAddress) return byAddress
    const m = new Map<string, string>()
    for (const row of ctx.store.machines.live()) {
      for (const a of [row.private_ip, row.private_ip6]) if (a) m.set(a, row.app_name)
    }
    builtAt = Date.now()
    return (byAddress = m)
  }

  const rulesOf = (app: string): { key: string; list: EgressRule[] } | null => {
    if (!rules.has(app)) {
      const row = ctx.store.apps.networkPolicy(app)
      const list = row ? (JSON.parse(row.rules) as EgressRule[]) : []
      rules.set(app, { key: JSON.stringify(list), list })
    }
    const r = rules.get(app)!
    return r.list.length ? r : null
  }

  return {
    /** The app's rules changed: read them again. */
    forget(app: string): void {
      rules.delete(app)
    },

    judge(source: string, hostname: string): EgressJudgement {
      let app = addresses().get(source)
      if (app === undefined && Date.now() - builtAt > refreshMs) {
        byAddress = null
        app = addresses().get(source)
      }
      const r = app === undefined ? null : rulesOf(app)
      return r ? judgeRules(r.list, r.key, hostname) : null
    },
  }
}
