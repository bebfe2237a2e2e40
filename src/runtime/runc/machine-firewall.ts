/**
 * Keeps the firewall (firewall.ts) equal to the machines on disk: each refresh
 * reads every machine's network record and group, the egress policies, and the
 * nameservers, and swaps the whole ruleset in. Refreshes are serialised and
 * coalesced, so a rebuild never applies a snapshot older than one already
 * applied, and ten creates at once cost a few rebuilds, not ten. It also runs the DNS
 * forwarder of apps with domain rules, and adds what it learns to their sets in
 * turn with the rebuilds (which carry the live elements over), never between a
 * rebuild's read and its swap.
 *
 *   const fw = new MachineFirewall(layout, network, { upstreams: null })
 *   await fw.refresh()                       // after a machine comes or goes
 *   await fw.setPolicy('myapp', [{ cidr: '10.0.5.0/24', action: 'allow' }])
 */
import { readdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { firstHost, parseCidr } from '../../lib/cidr.ts'
import type { NetworkOptions } from './cni.ts'
import { resolvConf } from './etc.ts'
import type { EgressRule } from '../types.ts'
import { DnsForwarder } from './dns-forwarder.ts'
import { hasDomainRules } from './domain-rules.ts'
import { applyFirewall, firewallScript, groupIdent, learnScript, liveLearned, removeFirewall, type FirewallMachine, type LearnedAddress } from './firewall.ts'
import { isMachineId, type Layout } from './layout.ts'
import { run } from '../../lib/proc.ts'

interface NetworkRecord {
  netns: string
  ipv4: string
  ipv6: string | null
  hostVeth: string | null
  mac?: string | null
}

export interface DnsOptions {
  /** Resolvers the forwarder asks (`ip`, `ip:port`); null: the host's resolv.conf. */
  upstreams: string[] | null
  /** Its port on the bridge gateways; default 20053. */
  port?: number
}

/** Default port of the forwarder: off the well-known 53, which a host resolver may hold on every address. */
export const DNS_PORT = 20053

export class MachineFirewall {
  #layout: Layout
  #network: NetworkOptions
  #policyFile: string
  /** The refresh in flight, and whether another must follow it. */
  #running: Promise<void> | null = null
  #again = false
  /** Rebuilds and set additions take turns: a rebuild reads the live sets, then swaps the table. */
  #turn: Promise<unknown> = Promise.resolve()
  /** Groups whose learned addresses the next rebuild drops (their rules changed). */
  #forget = new Set<string>()
  /** Source address → group and rules, for machines of groups with domain rules, as of the last rebuild. */
  #clients = new Map<string, { group: string; rules: EgressRule[] }>()
  #dnsPort: number
  #forwarder: DnsForwarder

  constructor(layout: Layout, network: NetworkOptions, dns: DnsOptions, logger?: { warn: (obj: object, msg: string) => void }) {
    this.#layout = layout
    this.#network = network
    this.#policyFile = join(layout.stateDir, 'egress-policies.json')
    this.#dnsPort = dns.port ?? DNS_PORT
    this.#forwarder = new DnsForwarder({
      port: this.#dnsPort,
      upstreams: dns.upstreams,
      lookup: (source) => this.#clients.get(source) ?? null,
      learn: (group, addrs) => this.#learn(group, addrs),
      ...(logger ? { logger } : {}),
    })
  }

  #inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#turn.then(fn, fn)
    this.#turn = next.catch(() => {})
    return next
  }

  #learn(group: string, addrs: LearnedAddress[]): Promise<void> {
    return this.#inTurn(async () => {
      // A group whose machines all went, or whose rules lost their domains, has no set to add to.
      if (![...this.#clients.values()].some((c) => c.group === group)) throw new Error(`group ${group} has no domain rules in force`)
      await run('nft', ['-f', '-'], { step: 'nft (learn addresses)', stdin: learnScript(this.#network.name, group, addrs) })
    })
  }

  /** Rebuilds from disk; resolves once a ruleset built after this call is in force. */
  refresh(): Promise<void> {
    if (this.#running) {
      this.#again = true
      return this.#running.then(() => this.#running ?? undefined)
    }
    const loop = async (): Promise<void> => {
      try {
        do {
          this.#again = false
          await this.#apply()
        } while (this.#again)
      } finally {
        this.#running = null
      }
    }
    this.#running = loop()
    return this.#running
  }

  async policies(): Promise<Map<string, EgressRule[]>> {
    try {
      return new Map(Object.entries(JSON.parse(await readFile(this.#policyFile, 'utf8')) as Record<string, EgressRule[]>))
    } catch {
      return new Map()
    }
  }

  /** Stores a group's egress rules (an empty list removes them) and puts them in force. */
  async setPolicy(group: string, rules: EgressRule[]): Promise<void> {
    const all = await this.policies()
    if (rules.length) all.set(group, rules)
    else all.delete(group)
    // Addresses learned under the old rules may name what the new ones deny.
    this.#forget.add(group)
    await writeFile(`${this.#policyFile}.tmp`, JSON.stringify(Object.fromEntries(all)))
    await rename(`${this.#policyFile}.tmp`, this.#policyFile)
    await this.refresh()
  }

  remove(): Promise<void> {
    return removeFirewall(this.#network.name)
  }

  /** Stops the DNS forwarder; the tables stay, so domain-policy DNS fails (closed) until the next start. */
  close(): void {
    this.#forwarder.close()
  }

  #apply(): Promise<void> {
    return this.#inTurn(() => this.#rebuild())
  }

  /** The machines the ruleset in force holds to their addresses and app. */
  #covered = new Set<string>()

  /** True when the ruleset in force has this machine's port (start refuses a machine it has not). */
  covers(id: string): boolean {
    return this.#covered.has(id)
  }

  async #rebuild(): Promise<void> {
    const machines: FirewallMachine[] = []
    for (const id of (await readdir(this.#layout.machinesDir).catch(() => [] as string[])).filter(isMachineId)) {
      const m = await this.#machine(id)
      if (m) machines.push(m)
    }
    const nameservers = [...(await resolvConf()).matchAll(/^\s*nameserver\s+(\S+)/gm)].map((x) => x[1]!)
    const subnets = [this.#network.subnet, this.#network.subnet6].map((cidr) => ({ cidr: parseCidr(cidr).cidr, gateway: firstHost(cidr) }))
    const policies = await this.policies()
    const learned = await liveLearned(this.#network.name)
    for (const g of this.#forget) learned.delete(groupIdent(g))
    this.#forget.clear()
    await applyFirewall(firewallScript({ name: this.#network.name, bridge: this.#network.bridge, machines, policies, nameservers, subnets, dnsPort: this.#dnsPort, learned, gatewayPorts: this.#network.gatewayPorts ?? [] }))
    this.#covered = new Set(machines.map((m) => m.id))
    const clients = new Map<string, { group: string; rules: EgressRule[] }>()
    for (const m of machines) {
      const rules = policies.get(m.group)
      if (!rules || !hasDomainRules(rules)) continue
      for (const a of [m.ipv4, m.ipv6]) if (a) clients.set(a, { group: m.group, rules })
    }
    this.#clients = clients
    // The bridge (and so the gateway addresses) exists once a machine is attached.
    if (clients.size) await this.#forwarder.listen(subnets.map((n) => n.gateway))
  }

  /** One machine's ports and addresses; null while it has no attachment (half-created, or being torn down). */
  async #machine(id: string): Promise<FirewallMachine | null> {
    const paths = this.#layout.machine(id)
    let net: NetworkRecord
    try {
      net = JSON.parse(await readFile(paths.network, 'utf8')) as NetworkRecord
    } catch {
      return null
    }
    if (!net.hostVeth) return null
    // Records from before the firewall lack the MAC: read it from the machine's netns once and keep it.
    if (!net.mac) {
      const mac = await macOf(net.netns)
      if (!mac) return null
      net = { ...net, mac }
      await writeFile(paths.network, JSON.stringify(net))
    }
    const spec = JSON.parse(await readFile(paths.spec, 'utf8').catch(() => '{}')) as { group?: string }
    // A machine with no group (made before groups existed) is a group of its own until its next update;
    // the underscore keeps that name apart from every app's (app names have none).
    return { id, port: net.hostVeth!, mac: net.mac!, ipv4: net.ipv4, ipv6: net.ipv6, group: spec.group ?? `_machine_${id}` }
  }
}

async function macOf(netns: string): Promise<string | null> {
  try {
    const { stdout } = await run('ip', ['-n', netns, '-j', 'link', 'show', 'eth0'], { step: 'ip link show' })
    return (JSON.parse(stdout) as { address?: string }[])[0]?.address ?? null
  } catch {
    return null
  }
}
