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
 *   ICMP echo and neighbour discovery; what it sends through the host goes to
 *   its nameservers, then its app's egress rules (first match wins), then the
 *   defaults: private, link-local, loopback, multicast and reserved ranges are
 *   dropped, the rest of the internet goes out through CNI's NAT.
 *
 *   await applyFirewall(firewallScript({ name: 'hangar', bridge: 'hangar0', machines, policies, nameservers }))
 */
import { isIP } from 'node:net'
import type { EgressRule } from '../types.ts'
import { run } from './proc.ts'

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
}

/** Never reachable from a machine unless its app's rules allow it: not the internet. */
const BLOCKED4 = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24',
  '192.168.0.0/16', '198.18.0.0/15', '224.0.0.0/4', '240.0.0.0/4',
]
const BLOCKED6 = ['::1/128', '::ffff:0:0/96', '64:ff9b:1::/48', 'fc00::/7', 'fe80::/10', 'ff00::/8']

/** nft identifiers: letters, digits, underscore. Group names are app names ([a-z0-9-]). */
const ident = (s: string): string => s.replace(/[^A-Za-z0-9_]/g, '_')
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
  const out = [`add table inet ${t}`, `delete table inet ${t}`, `table inet ${t} {`]
  const v4 = s.machines.map((m) => `${m.ipv4} : jump egress_${ident(m.group)}`)
  const v6 = s.machines.filter((m) => m.ipv6).map((m) => `${m.ipv6} : jump egress_${ident(m.group)}`)
  for (const g of new Set(s.machines.map((m) => m.group))) {
    out.push(`  chain egress_${ident(g)} {`)
    for (const r of s.policies.get(g) ?? []) {
      const family = r.cidr.includes(':') ? 'ip6' : 'ip'
      out.push(`    ${family} daddr ${r.cidr} ${r.action === 'allow' ? 'accept' : 'drop'}`)
    }
    out.push('  }')
  }
  out.push(
    '  chain input {',
    '    type filter hook input priority filter - 10; policy accept;',
    `    iifname ${q(s.bridge)} jump from_machines`,
    '  }',
    '  chain from_machines {',
    '    ct state established,related accept',
    '    icmp type echo-request accept',
    '    icmpv6 type { echo-request, nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept',
    '    counter drop',
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

/** The whole ruleset for one network, as one nft transaction. */
export function firewallScript(s: FirewallState): string {
  return [...bridgeTable(s), ...inetTable(s)].join('\n') + '\n'
}

export async function applyFirewall(script: string): Promise<void> {
  await run('nft', ['-f', '-'], { step: 'nft (machine firewall)', stdin: script })
}

/** Removes both tables (a driver whose network goes away). */
export async function removeFirewall(network: string): Promise<void> {
  const t = tableName(network)
  await run('nft', ['-f', '-'], { step: 'nft (remove firewall)', stdin: `add table bridge ${t}\ndelete table bridge ${t}\nadd table inet ${t}\ndelete table inet ${t}\n` })
}
