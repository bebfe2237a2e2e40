/**
 * Refuses a machine network whose addresses another interface on the host
 * already holds. Two bridges with one subnet give the kernel two routes to the
 * same block: packets for one set of machines reach the other (another daemon's,
 * a VPN's, the LAN's), which shows up much later as wrong answers or
 * EHOSTUNREACH. Failing at start names the clash while it is cheap to fix.
 */
import { HangarError } from '../../errors.ts'
import { overlaps } from '../../lib/cidr.ts'
import type { NetworkOptions } from './cni.ts'
import { run } from '../../lib/proc.ts'

interface IpAddr {
  ifname: string
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[]
}

/** The first interface (other than our bridge) holding addresses in the network's subnets, or null. */
export function findClash(network: NetworkOptions, interfaces: IpAddr[]): { ifname: string; address: string; subnet: string } | null {
  for (const iface of interfaces) {
    if (iface.ifname === network.bridge) continue
    for (const a of iface.addr_info ?? []) {
      if (a.scope === 'link' || a.scope === 'host') continue
      const address = `${a.local}/${a.prefixlen}`
      for (const subnet of [network.subnet, network.subnet6]) {
        if (overlaps(address, subnet)) return { ifname: iface.ifname, address, subnet }
      }
    }
  }
  return null
}

export async function assertSubnetFree(network: NetworkOptions): Promise<void> {
  const { stdout } = await run('ip', ['-j', 'addr', 'show'], { step: 'list host addresses' })
  const clash = findClash(network, JSON.parse(stdout) as IpAddr[])
  if (!clash) return
  throw new HangarError('network_conflict', `machine network ${clash.subnet} overlaps ${clash.address} on host interface ${clash.ifname}`, {
    details: { subnet: clash.subnet, interface: clash.ifname, address: clash.address },
  })
}
