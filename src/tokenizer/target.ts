/**
 * Where a request goes, and whether the tokenizer may dial it. The client writes plain http:// so
 * the tokenizer can see the request; the tokenizer always speaks TLS upstream: port 80 (or none)
 * means 443, port 443 is refused (the client would be speaking TLS the tokenizer cannot read), any
 * other port is TLS on that port (superfly's dialFunc). Addresses outside the public internet
 * (loopback, private, link-local, unique-local, multicast, reserved) are refused unless the
 * operator allowed their block, so a secret cannot be aimed into the operator's own network.
 *
 *   const t = targetOf('api.example.com')            // { hostname: 'api.example.com', port: 443, … }
 *   const policy = new AddressPolicy(['127.0.0.0/8'])
 *   policy.refusal('10.0.0.1')                        // 'a private address'
 */
import { BlockList, isIP } from 'node:net'
import { HangarError } from '../errors.ts'
import { parseCidr } from '../lib/cidr.ts'
import { SPECIAL4, SPECIAL6 } from '../lib/special-addresses.ts'

export interface Target {
  /** What the client wrote: host, or host:port. Host rules are checked against this. */
  authority: string
  /** The name (or address, without brackets) dialled and verified by TLS. */
  hostname: string
  /** The TLS port dialled. */
  port: number
  /** The Host header sent upstream: the authority without a port of 80 (which the client meant as "the default"). */
  hostHeader: string
}

const badRequest = (why: string, hint: string): HangarError => new HangarError('tokenizer_bad_request', why, { hint })
const plainHint = 'send plain http:// requests (or CONNECT to a port other than 443) through the tokenizer; it speaks TLS to the upstream itself'

/** Parses an authority (host, host:port, [v6]:port) into where to dial. Throws tokenizer_bad_request. */
export function targetOf(authority: string): Target {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]/\s@]+))(?::(\d{1,5}))?$/.exec(authority)
  const hostname = m?.[1] ?? m?.[2]
  if (!m || !hostname || (m[1] && isIP(m[1]) !== 6)) throw badRequest(`"${authority}" is not a host or host:port`, plainHint)
  const given = m[3] === undefined ? null : Number(m[3])
  if (given !== null && (given < 1 || given > 65535)) throw badRequest(`port ${given} is out of range`, plainHint)
  if (given === 443) throw badRequest('the tokenizer does not pass TLS through to port 443: it must see the request to inject the secret', plainHint)
  const port = given === null || given === 80 ? 443 : given
  const hostHeader = given === 80 ? (m[1] ? `[${m[1]}]` : hostname) : authority
  return { authority, hostname: hostname.toLowerCase(), port, hostHeader }
}

/** The kind of address a blocked one is, for the refusal's message. */
function kind(ip: string): string {
  if (/^(127\.|::1$)/.test(ip)) return 'a loopback address'
  if (/^(10\.|172\.(1[6-9]|2\d|3[01])\.|192\.168\.|f[cd])/i.test(ip)) return 'a private address'
  if (/^(169\.254\.|fe[89ab])/i.test(ip)) return 'a link-local address'
  return 'not a public internet address'
}

export class AddressPolicy {
  #special = new BlockList()
  #allowed = new BlockList()

  /** `allowed`: CIDR blocks the operator lets the tokenizer reach although they are not public. */
  constructor(allowed: readonly string[] = []) {
    for (const [list, family] of [[SPECIAL4, 'ipv4'], [SPECIAL6, 'ipv6']] as const) {
      // IPv4-mapped addresses are unwrapped in refusal(); as a rule, ::ffff:0:0/96 would match every IPv4 address.
      for (const b of list) if (b !== '::ffff:0:0/96') this.#add(this.#special, b, family)
    }
    for (const b of allowed) {
      const { cidr, family } = parseCidr(b)
      this.#add(this.#allowed, cidr, family === 4 ? 'ipv4' : 'ipv6')
    }
  }

  #add(list: BlockList, block: string, family: 'ipv4' | 'ipv6'): void {
    const [net, prefix] = block.split('/') as [string, string]
    list.addSubnet(net, Number(prefix), family)
  }

  /** Why the tokenizer may not dial `ip`, or null when it may. */
  refusal(address: string): string | null {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
    const ip = mapped ? (mapped[1] as string) : address
    const family = isIP(ip) === 4 ? 'ipv4' : isIP(ip) === 6 ? 'ipv6' : null
    if (!family) return 'not an IP address'
    if (!this.#special.check(ip, family) || this.#allowed.check(ip, family)) return null
    return `${kind(ip)}, which the tokenizer does not dial unless the operator allows it (--tokenizer-allow-net)`
  }
}
