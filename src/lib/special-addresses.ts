/**
 * Addresses that are not "the internet": loopback, private, link-local (where cloud metadata
 * lives), carrier-grade NAT, multicast and reserved blocks. Machines' egress firewall drops them
 * by default, the daemon's own registry client and the tokenizer refuse to dial them, unless an
 * operator allows a block: neither a machine nor a sealed secret reaches into the host's networks.
 *
 *   isSpecialAddress('169.254.169.254')   // true
 *   isSpecialAddress('::ffff:10.0.0.1')   // true (IPv4-mapped: judged as the IPv4 address)
 */
import { isIPv4, isIPv6 } from 'node:net'
import { cidrContains } from './cidr.ts'

export const SPECIAL4 = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24',
  '192.168.0.0/16', '198.18.0.0/15', '224.0.0.0/4', '240.0.0.0/4',
]
export const SPECIAL6 = ['::/128', '::1/128', '::ffff:0:0/96', '64:ff9b::/96', '64:ff9b:1::/48', 'fc00::/7', 'fe80::/10', 'ff00::/8']

/** Whether `address` (IPv4 or IPv6, no brackets) lies in one of the special blocks; anything unparsable counts as special. */
export function isSpecialAddress(address: string): boolean {
  if (isIPv4(address)) return SPECIAL4.some((b) => cidrContains(b, address))
  // IPv4-mapped in dotted form reaches that IPv4 address: judged as it.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return isSpecialAddress(mapped[1] as string)
  if (isIPv6(address)) return SPECIAL6.some((b) => cidrContains(b, address))
  return true
}
