/**
 * Machine networking by executing CNI plugins directly (CNI spec 1.0): a named
 * network namespace per machine (`ip netns add`), then `bridge` (gateway +
 * masquerade, so machines reach package mirrors) with `host-local` IPAM over
 * an IPv4 and an IPv6 ULA range, and `loopback` for lo. The IPAM database
 * lives under the driver's stateDir, so each driver instance hands out its own
 * addresses. The config used for ADD is stored with the machine: DEL must see
 * the same one.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { run, tryRun } from '../../lib/proc.ts'

export interface NetworkOptions {
  /** CNI network name; appears in the iptables rule comments of its machines. */
  name: string
  /** Host bridge device, at most 15 chars. */
  bridge: string
  subnet: string
  subnet6: string
  /** TCP ports of daemon services machines may reach on their gateway (the tokenizer); the firewall opens them. */
  gatewayPorts?: number[]
}

export interface Attachment {
  /** The exact plugin config given to ADD. */
  config: Record<string, unknown>
  ipv4: string
  ipv6: string | null
  hostVeth: string | null
  /** The machine's eth0 MAC, which the firewall holds its frames to. */
  mac: string | null
}

interface CniResult {
  interfaces?: { name: string; sandbox?: string; mac?: string }[]
  ips?: { address: string; interface?: number }[]
}

export class Cni {
  #pluginDir: string
  #network: NetworkOptions
  #dataDir: string

  constructor(opts: { pluginDir: string; network: NetworkOptions; dataDir: string }) {
    this.#pluginDir = opts.pluginDir
    this.#network = opts.network
    this.#dataDir = opts.dataDir
  }

  netnsPath(name: string): string {
    return join('/run/netns', name)
  }

  #bridgeConfig(ipv6: boolean): Record<string, unknown> {
    const ranges = [[{ subnet: this.#network.subnet }]]
    const routes = [{ dst: '0.0.0.0/0' }]
    if (ipv6) {
      ranges.push([{ subnet: this.#network.subnet6 }])
      routes.push({ dst: '::/0' })
    }
    return {
      cniVersion: '1.0.0',
      name: this.#network.name,
      type: 'bridge',
      bridge: this.#network.bridge,
      isGateway: true,
      // NAT is one nftables rule for the whole network (firewall.ts), not iptables chains per machine.
      ipMasq: false,
      hairpinMode: true,
      ipam: { type: 'host-local', ranges, routes, dataDir: this.#dataDir },
    }
  }

  async #exec(command: 'ADD' | 'DEL', id: string, netns: string, ifname: string, config: Record<string, unknown>): Promise<string> {
    const type = String(config.type)
    const { stdout } = await run(join(this.#pluginDir, type), [], {
      step: `cni ${type} ${command}`,
      stdin: JSON.stringify(config),
      env: {
        PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
        CNI_COMMAND: command,
        CNI_CONTAINERID: id,
        CNI_NETNS: this.netnsPath(netns),
        CNI_IFNAME: ifname,
        CNI_PATH: this.#pluginDir,
      },
    })
    return stdout
  }

  /**
   * Attaches the namespace (made beforehand, owned by the machine's user namespace). With ipv6 it
   * asks for both ranges; if that fails (kernel without IPv6) it undoes and retries IPv4-only.
   */
  async add(id: string, netns: string, ipv6: boolean, want: string[] = []): Promise<Attachment> {
    await this.#exec('ADD', id, netns, 'lo', { cniVersion: '1.0.0', name: this.#network.name, type: 'loopback' })
    let config = this.#bridgeConfig(ipv6)
    let out: string
    if (want.length) {
      // Ask host-local for the addresses the machine had (args.cni.ips), so a reattach keeps them.
      try {
        return this.#result(await this.#exec('ADD', id, netns, 'eth0', { ...config, args: { cni: { ips: want } } }), config)
      } catch {
        await this.del(id, netns, config, { keepNetns: true })
      }
    }
    try {
      out = await this.#exec('ADD', id, netns, 'eth0', config)
    } catch (e) {
      // A failed ADD may have made a veth or taken an address: undo before retrying or giving up.
      await this.del(id, netns, config, { keepNetns: ipv6 })
      if (!ipv6) throw e
      config = this.#bridgeConfig(false)
      try {
        out = await this.#exec('ADD', id, netns, 'eth0', config)
      } catch (e2) {
        await this.del(id, netns, config)
        throw e2
      }
    }
    return this.#result(out, config)
  }

  /**
   * Set from the host, before eth0 exists (it inherits `default`), because the machine's root may not
   * write /proc/sys: no router advertisements accepted (a rogue RA would reroute the machine), and ICMP
   * echo through unprivileged ping sockets for all the machine's groups (host gids: the writer's view
   * counts), since raw sockets are refused.
   */
  async harden(netns: string, gids: { first: number; last: number }): Promise<void> {
    const writes = [`net/ipv4/ping_group_range=${gids.first} ${gids.last}`]
    if (existsSync('/proc/sys/net/ipv6')) writes.push('net/ipv6/conf/all/accept_ra=0', 'net/ipv6/conf/default/accept_ra=0')
    const script = 'for kv in "$@"; do printf %s "${kv#*=}" > "/proc/sys/${kv%%=*}" || exit 1; done'
    await run('ip', ['netns', 'exec', netns, 'sh', '-c', script, 'sh', ...writes], { step: 'netns sysctls' })
  }

  #result(out: string, config: Record<string, unknown>): Attachment {
    const result = JSON.parse(out) as CniResult
    const ips = result.ips ?? []
    const v4 = ips.find((ip) => !ip.address.includes(':'))
    const v6 = ips.find((ip) => ip.address.includes(':'))
    if (!v4) throw new Error(`CNI returned no IPv4 address: ${out}`)
    const veth = result.interfaces?.find((i) => !i.sandbox && i.name !== this.#network.bridge)
    return {
      config,
      ipv4: v4.address.split('/')[0] ?? '',
      ipv6: v6 ? (v6.address.split('/')[0] ?? null) : null,
      hostVeth: veth?.name ?? null,
      mac: result.interfaces?.find((i) => i.sandbox)?.mac ?? null,
    }
  }

  /** Detaches (releasing the address and the masquerade rules) and deletes the namespace. Best effort, idempotent. */
  async del(id: string, netns: string, stored: Record<string, unknown> | null, opts: { keepNetns?: boolean } = {}): Promise<void> {
    // No stored config (a create killed between CNI ADD and writing network.json):
    // this network's own config still names the masquerade rules and IPAM to release.
    const config = stored ?? this.#bridgeConfig(true)
    try {
      await this.#exec('DEL', id, netns, 'eth0', config)
    } catch {
      // DEL must tolerate a half-made attachment; a second try without the netns still releases IPAM and iptables.
      await tryRun(join(this.#pluginDir, String(config.type)), [], {
        step: 'cni DEL',
        stdin: JSON.stringify(config),
        env: { PATH: process.env.PATH, CNI_COMMAND: 'DEL', CNI_CONTAINERID: id, CNI_NETNS: '', CNI_IFNAME: 'eth0', CNI_PATH: this.#pluginDir },
      })
    }
    if (!opts.keepNetns && existsSync(this.netnsPath(netns))) await tryRun('ip', ['netns', 'delete', netns], { step: 'ip netns delete' })
  }

  /** True when the namespace file is gone (host rebooted): the network must be set up again. */
  missing(netns: string): boolean {
    return !existsSync(this.netnsPath(netns))
  }
}
