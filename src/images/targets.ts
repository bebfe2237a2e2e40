/**
 * Where the registry client (pull and push) may connect: public addresses, and the special ones
 * (loopback, private, link-local where cloud metadata lives, CGNAT, multicast, reserved) only inside
 * the operator's allowed blocks (--pull-allow). Checked on each connection, after DNS, and on every
 * redirect, so a registry name resolving to the host or its LAN, or a registry that redirects a blob
 * to a metadata address, is refused the same way: a robot's `image pull` cannot probe what the daemon
 * reaches. This Hangar's own registry never goes on the network at all (own-hosts.ts).
 *
 *   const targets = new RemoteTargets(['127.0.0.0/8'])
 *   await fetch(url, { dispatcher: targets.dispatcher })   // refused: pull_target_not_allowed
 */
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOneOptions } from 'node:dns'
import { isIP, type LookupFunction } from 'node:net'
import { Agent, buildConnector } from 'undici'
import { HangarError } from '../errors.ts'
import { cidrContains } from '../lib/cidr.ts'
import { isSpecialAddress } from '../lib/special-addresses.ts'

export class RemoteTargets {
  /** The operator's blocks, canonical. */
  readonly allowed: readonly string[]
  /** An undici dispatcher whose every connection is checked. */
  readonly dispatcher: Agent

  constructor(allowed: readonly string[] = []) {
    this.allowed = allowed
    const connect = buildConnector({ lookup: this.lookup })
    this.dispatcher = new Agent({
      connect: (opts, cb) => {
        // A literal address is connected to without a lookup: checked here instead.
        const host = opts.hostname.replace(/^\[|\]$/g, '')
        try {
          if (isIP(host)) this.check(host, opts.hostname)
        } catch (e) {
          return cb(e as Error, null)
        }
        connect(opts, cb)
      },
    })
  }

  /** Throws pull_target_not_allowed unless the client may connect to `address` (which `host` named). */
  check(address: string, host: string): void {
    if (!isSpecialAddress(address) || this.allowed.some((b) => cidrContains(b, address))) return
    throw new HangarError('pull_target_not_allowed', `registry ${host} is at ${address}, a loopback, private, link-local or otherwise special address this daemon does not connect to`, {
      details: { host, address, allowed: [...this.allowed] },
    })
  }

  /** For node:http requests (`{ lookup }`): a DNS lookup whose every answer is checked before anything connects. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...(options as LookupOneOptions), all: true } as LookupAllOptions, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0)
      try {
        for (const a of addresses) this.check(a.address, hostname)
      } catch (e) {
        return callback(e as NodeJS.ErrnoException, '', 0)
      }
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, all: LookupAddress[]) => void)(null, addresses)
      const first = addresses[0] as LookupAddress
      callback(null, first.address, first.family)
    })
  }

  close(): Promise<void> {
    return this.dispatcher.close()
  }
}
