/**
 * Keeps the firewall (firewall.ts) equal to the machines on disk: each refresh
 * reads every machine's network record and group, the egress policies, and the
 * nameservers, and swaps the whole ruleset in. Refreshes are serialised and
 * coalesced, so a rebuild never applies a snapshot older than one already
 * applied, and ten creates at once cost a few rebuilds, not ten.
 *
 *   const fw = new MachineFirewall(layout, network)
 *   await fw.refresh()                       // after a machine comes or goes
 *   await fw.setPolicy('myapp', [{ cidr: '10.0.5.0/24', action: 'allow' }])
 */
import { readdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { firstHost, parseCidr } from '../../lib/cidr.ts'
import type { NetworkOptions } from './cni.ts'
import { resolvConf } from './etc.ts'
import type { EgressRule } from '../types.ts'
import { applyFirewall, firewallScript, removeFirewall, type FirewallMachine } from './firewall.ts'
import { isMachineId, type Layout } from './layout.ts'
import { run } from './proc.ts'

interface NetworkRecord {
  netns: string
  ipv4: string
  ipv6: string | null
  hostVeth: string | null
  mac?: string | null
}

export class MachineFirewall {
  #layout: Layout
  #network: NetworkOptions
  #policyFile: string
  /** The refresh in flight, and whether another must follow it. */
  #running: Promise<void> | null = null
  #again = false

  constructor(layout: Layout, network: NetworkOptions) {
    this.#layout = layout
    this.#network = network
    this.#policyFile = join(layout.stateDir, 'egress-policies.json')
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
    await writeFile(`${this.#policyFile}.tmp`, JSON.stringify(Object.fromEntries(all)))
    await rename(`${this.#policyFile}.tmp`, this.#policyFile)
    await this.refresh()
  }

  remove(): Promise<void> {
    return removeFirewall(this.#network.name)
  }

  async #apply(): Promise<void> {
    const machines: FirewallMachine[] = []
    for (const id of (await readdir(this.#layout.machinesDir).catch(() => [] as string[])).filter(isMachineId)) {
      const m = await this.#machine(id)
      if (m) machines.push(m)
    }
    const nameservers = [...(await resolvConf()).matchAll(/^\s*nameserver\s+(\S+)/gm)].map((x) => x[1]!)
    const subnets = [this.#network.subnet, this.#network.subnet6].map((cidr) => ({ cidr: parseCidr(cidr).cidr, gateway: firstHost(cidr) }))
    await applyFirewall(firewallScript({ name: this.#network.name, bridge: this.#network.bridge, machines, policies: await this.policies(), nameservers, subnets }))
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
    // A machine with no group (made before groups existed) is a group of its own until its next update.
    return { id, port: net.hostVeth!, mac: net.mac!, ipv4: net.ipv4, ipv6: net.ipv6, group: spec.group ?? `machine-${id}` }
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
