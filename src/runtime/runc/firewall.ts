/**
 * The walls between machines and everything else, as two nftables tables per
 * network, rebuilt whole and swapped in atomically (one `nft -f` transaction)
 * from the machines on disk whenever one comes or goes: desired state in, no
 * rule bookkeeping to drift.
 *
 * - `bridge hangar_<net>`: on the shared bridge, each machine's port may only
 *   send frames with its own MAC and IP (ARP and NDP included), never a router
 *   advertisement, redirect or DHCP answer, and only to ports of its own app.
 * - `inet hangar_<net>`: what a machine sends to the host itself is dropped but
 *   ICMP echo, neighbour discovery and the daemon's services on the gateway
 *   (`gatewayPorts`: the tokenizer); what it sends through the host goes to
 *   its nameservers, then its app's egress rules (first match wins), then the
 *   defaults: private, link-local, loopback, multicast and reserved ranges are
 *   dropped, the rest of the internet goes out through CNI's NAT.
 * - Apps with domain rules: their DNS (port 53, to any address) is redirected
 *   to the daemon's forwarder (dns-forwarder.ts), which judges each name; the
 *   addresses an allowed name resolves to join the app's `allowed4_`/`allowed6_`
 *   sets for the record's TTL, accepted ahead of its CIDR rules (but never into
 *   the default-refused ranges). The live elements are written into every
 *   rebuild, so a swap keeps them.
 *
 *   await applyFirewall(firewallScript({ name: 'hangar', bridge: 'hangar0', machines, policies, nameservers }))
 */
import { isIP } from 'node:net'
import type { EgressRule } from '../types.ts'
import { hasDomainRules } from './domain-rules.ts'
import { run } from '../../lib/proc.ts'
import { SPECIAL4, SPECIAL6 } from '../../lib/special-addresses.ts'

export interface FirewallMachine {
  id: string
  /** Host side of the machine's veth. */
  port: string
  mac: string
  ipv4: string
  ipv6: string | null
  /** Machines of one group (an app) reach each other; no others. */
  group: string
}


export interface FirewallState {
  /** The network's name (tables are `hangar_<name>`). */
  name: string
  bridge: string
  machines: FirewallMachine[]
  /** Egress rules per group, in order. */
  policies: Map<string, EgressRule[]>
  /** The machines' resolvers (their resolv.conf), reachable on port 53 whatever the ranges say. */
  nameservers: string[]
  /** The bridge's subnets and the host's address (the gateway) in each. */
  subnets: { cidr: string; gateway: string }[]
  /** Where the DNS forwarder listens on each gateway (UDP and TCP). */
  dnsPort: number
  /** TCP ports of daemon services every machine may reach on its gateway (the tokenizer); none when absent. */
  gatewayPorts?: number[]
  /** Addresses learned from allowed names, per group (keyed by groupIdent), with the seconds each has left. */
  learned: Map<string, LearnedAddress[]>
}

export interface LearnedAddress {
  addr: string
  seconds: number
}

/** Never reachable from a machine unless its app's rules allow it: not the internet. */
const BLOCKED4 = SPECIAL4
// The unspecified address is no destination a packet can have; nft needs no rule for it.
const BLOCKED6 = SPECIAL6.filter((b) => b !== '::/128')

/** nft identifiers: letters, digits, underscore. Group names are app names ([a-z0-9-]). */
const ident = (s: string): string => s.replace(/[^A-Za-z0-9_]/g, '_')
/** A group's name as its chains and sets carry it. */
export const groupIdent = ident
/** An interface name or other string, quoted for nft. */
const q = (s: string): string => `"${s.replace(/[^A-Za-z0-9_.:@-]/g, '')}"`

export function tableName(network: string): string {
  return `hangar_${ident(network)}`
}

/** The EUI-64 link-local address a MAC gets, which NDP packets may carry as their source. */
export function linkLocal(mac: string): string {
  const b = mac.split(':').map((h) => Number.parseInt(h, 16))
  b[0] = (b[0] ?? 0) ^ 2
  const words = [(b[0]! << 8) | b[1]!, (b[2]! << 8) | 0xff, (0xfe << 8) | b[3]!, (b[4]! << 8) | b[5]!]
  return `fe80::${words.map((w) => w.toString(16)).join(':')}`
}

function bridgeTable(s: FirewallState): string[] {
  const t = tableName(s.name)
  const out = [`add table bridge ${t}`, `delete table bridge ${t}`, `table bridge ${t} {`]
  const groups = new Map<string, FirewallMachine[]>()
  for (const m of s.machines) groups.set(m.group, [...(groups.get(m.group) ?? []), m])
  for (const [g, ms] of groups) {
    out.push(`  set ports_${ident(g)} { type ifname; elements = { ${ms.map((m) => q(m.port)).join(', ')} } }`)
    out.push(`  chain only_${ident(g)} {`, `    oifname != @ports_${ident(g)} drop`, '  }')
  }
  for (const m of s.machines) {
    const v6 = [m.ipv6, linkLocal(m.mac), '::'].filter((a): a is string => a !== null)
    out.push(
      // Counted, so an operator (and the tests) can see what a machine tried.
      `  chain from_${ident(m.id)} {`,
      `    ether saddr != ${m.mac} counter drop`,
      // Only plain IPv4, IPv6 and ARP: a VLAN tag (even VLAN 0) would carry frames past the checks below.
      '    ether type != { ip, ip6, arp } counter drop',
      `    ether type arp arp saddr ether != ${m.mac} counter drop`,
      `    ether type arp arp saddr ip != ${m.ipv4} counter drop`,
      `    ether type ip ip saddr != ${m.ipv4} counter drop`,
      `    ether type ip6 ip6 saddr != { ${v6.join(', ')} } counter drop`,
      // Only routers advertise or redirect, and no machine hands out addresses.
      '    icmpv6 type { nd-router-advert, nd-redirect } counter drop',
      '    udp sport { 67, 547 } counter drop',
      '  }',
    )
  }
  const vmap = (chain: (m: FirewallMachine) => string) => `    iifname vmap { ${s.machines.map((m) => `${q(m.port)} : jump ${chain(m)}`).join(', ')} }`
  const any = s.machines.length > 0
  out.push(
    // Frames between ports: the sender's own addresses, then only to its app's ports.
    '  chain forward {', '    type filter hook forward priority -10; policy accept;',
    ...(any ? [vmap((m) => `from_${ident(m.id)}`), vmap((m) => `only_${ident(m.group)}`)] : []), '  }',
    // Frames to the host itself: the same source checks; and no packet for another machine, which
    // the host would route back onto the bridge past the app check above.
    '  chain input {', '    type filter hook input priority -10; policy accept;', ...(any ? [vmap((m) => `from_${ident(m.id)}`)] : []),
    ...s.subnets.map((n) => `    ${n.cidr.includes(':') ? 'ip6' : 'ip'} daddr ${n.cidr} ${n.cidr.includes(':') ? 'ip6' : 'ip'} daddr != ${n.gateway} counter drop`), '  }',
    '}',
  )
  return out
}

function inetTable(s: FirewallState): string[] {
  const t = tableName(s.name)
  const dns4 = s.nameservers.filter((a) => isIP(a) === 4)
  const dns6 = s.nameservers.filter((a) => isIP(a) === 6)
  const gw4 = s.subnets.find((n) => !n.cidr.includes(':'))?.gateway
  const gw6 = s.subnets.find((n) => n.cidr.includes(':'))?.gateway
  const net4 = s.subnets.find((n) => !n.cidr.includes(':'))?.cidr
  const net6 = s.subnets.find((n) => n.cidr.includes(':'))?.cidr
  const out = [`add table inet ${t}`, `delete table inet ${t}`, `table inet ${t} {`]
  const v4 = s.machines.map((m) => `${m.ipv4} : jump egress_${ident(m.group)}`)
  const v6 = s.machines.filter((m) => m.ipv6).map((m) => `${m.ipv6} : jump egress_${ident(m.group)}`)
  const byDomain = s.machines.filter((m) => hasDomainRules(s.policies.get(m.group)))
  for (const g of new Set(s.machines.map((m) => m.group))) {
    const rules = s.policies.get(g) ?? []
    const domains = hasDomainRules(rules)
    if (domains) out.push(...learnedSets(g, s.learned.get(ident(g)) ?? []))
    out.push(`  chain egress_${ident(g)} {`)
    if (domains) {
      // Ahead of the CIDR rules, but a name never opens what the defaults refuse (DNS rebinding onto the LAN or metadata).
      out.push(`    ip daddr @allowed4_${ident(g)} ip daddr != { ${BLOCKED4.join(', ')} } accept`)
      out.push(`    ip6 daddr @allowed6_${ident(g)} ip6 daddr != { ${BLOCKED6.join(', ')} } accept`)
    }
    for (const r of rules) {
      if ('cidr' in r) out.push(`    ${r.cidr.includes(':') ? 'ip6' : 'ip'} daddr ${r.cidr} ${r.action === 'allow' ? 'accept' : 'drop'}`)
      // "Every other name is denied" holds for addresses too: what no earlier rule allowed is dropped, as Sprites' allowlists mean.
      else if (r.domain === '*' && r.action === 'deny') out.push('    counter drop')
    }
    out.push('  }')
  }
  const clients4 = byDomain.map((m) => m.ipv4)
  const clients6 = byDomain.map((m) => m.ipv6).filter((a): a is string => a !== null)
  out.push(
    '  chain input {',
    '    type filter hook input priority filter - 10; policy accept;',
    `    iifname ${q(s.bridge)} jump from_machines`,
    '  }',
    '  chain from_machines {',
    '    ct state established,related accept',
    '    icmp type echo-request accept',
    '    icmpv6 type { echo-request, nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept',
    // Daemon services for machines (the tokenizer), on the gateway only: before any app's egress rules, which judge forwarded traffic.
    ...(s.gatewayPorts?.length && gw4 ? [`    ip daddr ${gw4} tcp dport { ${s.gatewayPorts.join(', ')} } accept`] : []),
    ...(s.gatewayPorts?.length && gw6 ? [`    ip6 daddr ${gw6} tcp dport { ${s.gatewayPorts.join(', ')} } accept`] : []),
    // Only DNS redirected below reaches the forwarder; a machine cannot aim at its port directly.
    ...(byDomain.length ? [`    meta l4proto { tcp, udp } th dport ${s.dnsPort} ct status dnat accept`] : []),
    '    counter drop',
    '  }',
    // Port 53 to any address, so a machine cannot skip the forwarder by naming another resolver.
    ...(byDomain.length ? [
      '  chain dns_redirect {',
      '    type nat hook prerouting priority dstnat - 10; policy accept;',
      ...(gw4 && clients4.length ? [`    iifname ${q(s.bridge)} ip saddr { ${clients4.join(', ')} } meta l4proto { tcp, udp } th dport 53 dnat ip to ${gw4}:${s.dnsPort}`] : []),
      ...(gw6 && clients6.length ? [`    iifname ${q(s.bridge)} ip6 saddr { ${clients6.join(', ')} } meta l4proto { tcp, udp } th dport 53 dnat ip6 to [${gw6}]:${s.dnsPort}`] : []),
      '  }',
    ] : []),
    // The internet through NAT, one rule per family for the whole network: CNI's ipMasq would add
    // iptables chains per machine, tens of milliseconds of every create.
    '  chain nat_out {',
    '    type nat hook postrouting priority srcnat - 10; policy accept;',
    ...(net4 ? [`    ip saddr ${net4} ip daddr != { ${net4}, 224.0.0.0/4 } masquerade`] : []),
    ...(net6 ? [`    ip6 saddr ${net6} ip6 daddr != { ${net6}, ff00::/8 } masquerade`] : []),
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter - 10; policy accept;',
    `    iifname ${q(s.bridge)} jump egress`,
    '  }',
    '  chain egress {',
    '    ct state established,related accept',
    // Back out onto the bridge: with br_netfilter loaded, bridged traffic between machines passes
    // here too, already judged by the bridge table; routing through the host to reach another
    // machine is stopped there (its input chain), so nothing more to decide.
    `    oifname ${q(s.bridge)} accept`,
    ...(dns4.length ? [`    ip daddr { ${dns4.join(', ')} } meta l4proto { tcp, udp } th dport 53 accept`] : []),
    ...(dns6.length ? [`    ip6 daddr { ${dns6.join(', ')} } meta l4proto { tcp, udp } th dport 53 accept`] : []),
    ...(v4.length ? [`    ip saddr vmap { ${v4.join(', ')} }`] : []),
    ...(v6.length ? [`    ip6 saddr vmap { ${v6.join(', ')} }`] : []),
    `    ip daddr { ${BLOCKED4.join(', ')} } counter drop`,
    `    ip6 daddr { ${BLOCKED6.join(', ')} } counter drop`,
    '  }',
    '}',
  )
  return out
}

/** A group's sets of addresses learned from allowed names, holding the live elements with the time each has left. */
function learnedSets(group: string, learned: LearnedAddress[]): string[] {
  return ([[4, 'ipv4_addr'], [6, 'ipv6_addr']] as const).map(([family, type]) => {
    const els = learned.filter((l) => isIP(l.addr) === family && l.seconds > 0).map((l) => `${l.addr} timeout ${Math.ceil(l.seconds)}s`)
    return `  set allowed${family}_${ident(group)} { type ${type}; flags timeout;${els.length ? ` elements = { ${els.join(', ')} }` : ''} }`
  })
}

/** The commands that allow each address for a group for its seconds (re-adding an element resets its timeout). */
export function learnScript(network: string, group: string, addrs: LearnedAddress[]): string {
  const t = tableName(network)
  const lines: string[] = []
  for (const { addr, seconds } of addrs) {
    const set = `inet ${t} allowed${isIP(addr) === 6 ? 6 : 4}_${ident(group)}`
    // add (so it exists), delete, add: the one way to set a fresh timeout on an element that may exist, in one transaction.
    lines.push(`add element ${set} { ${addr} }`, `delete element ${set} { ${addr} }`, `add element ${set} { ${addr} timeout ${Math.ceil(seconds)}s }`)
  }
  return lines.join('\n') + '\n'
}

/** The whole ruleset for one network, as one nft transaction. */
export function firewallScript(s: FirewallState): string {
  return [...bridgeTable(s), ...inetTable(s)].join('\n') + '\n'
}

export async function applyFirewall(script: string): Promise<void> {
  await run('nft', ['-f', '-'], { step: 'nft (machine firewall)', stdin: script })
}

/** The addresses in each group's learned sets now (keyed by groupIdent), with the seconds each has left; none when the table is not there. */
export async function liveLearned(network: string): Promise<Map<string, LearnedAddress[]>> {
  const out = new Map<string, LearnedAddress[]>()
  let listing: { nftables?: { set?: { name: string; elem?: { elem?: { val: string; expires?: number } }[] } }[] }
  try {
    listing = JSON.parse((await run('nft', ['-j', 'list', 'table', 'inet', tableName(network)], { step: 'nft (list learned)' })).stdout)
  } catch {
    return out
  }
  for (const { set } of listing.nftables ?? []) {
    const m = set ? /^allowed[46]_(.+)$/.exec(set.name) : null
    if (!set || !m) continue
    const els = (set.elem ?? []).flatMap((e) => (e.elem?.val && e.elem.expires ? [{ addr: e.elem.val, seconds: e.elem.expires }] : []))
    out.set(m[1]!, [...(out.get(m[1]!) ?? []), ...els])
  }
  return out
}

/** Removes both tables (a driver whose network goes away). */
export async function removeFirewall(network: string): Promise<void> {
  const t = tableName(network)
  await run('nft', ['-f', '-'], { step: 'nft (remove firewall)', stdin: `add table bridge ${t}\ndelete table bridge ${t}\nadd table inet ${t}\ndelete table inet ${t}\n` })
}
