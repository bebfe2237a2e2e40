/**
 * The addresses that are this Hangar itself: "127.0.0.1:4280", "localhost:4280",
 * "[::1]:4280" and the public names an operator gives. An image reference on
 * one of them names the local store, so `127.0.0.1:4280/robots/busybox:1` is
 * `robots/busybox:1` without a round trip to ourselves (which would also need
 * credentials the daemon does not hold).
 *
 *   const own = new OwnHosts()
 *   own.add('127.0.0.1:4280')
 *   own.local(parseImageRef('127.0.0.1:4280/robots/busybox:1'))  // { registry: null, repository: 'robots/busybox', … }
 */
import { networkInterfaces } from 'node:os'
import type { ParsedRef } from './types.ts'

const loopbackNames = ['127.0.0.1', 'localhost', '[::1]']
const wildcards = new Set(['0.0.0.0', '::', '[::]', ''])

export class OwnHosts {
  /** "host:port" or a bare host (a public name served on 443 or 80), lowercased. */
  #hosts = new Set<string>()
  /** Host names without ports, for the MCP Origin check. */
  #names = new Set<string>(loopbackNames)

  /** Adds `host[:port]` entries; a name with no port matches only a reference with no port. */
  add(...hosts: string[]): void {
    for (const h of hosts) {
      const lower = h.toLowerCase()
      this.#hosts.add(lower)
      this.#names.add(hostnameOf(lower))
    }
  }

  /**
   * Adds every address a listener on `bindHost:port` answers on: the loopback names, the bound
   * address itself, and for a wildcard bind each interface's address.
   */
  addListener(bindHost: string, port: number): void {
    const hosts = new Set(loopbackNames)
    if (wildcards.has(bindHost)) {
      for (const list of Object.values(networkInterfaces())) {
        for (const a of list ?? []) hosts.add(a.family === 'IPv6' ? `[${a.address.replace(/%.*$/, '')}]` : a.address)
      }
    } else {
      hosts.add(bindHost.includes(':') && !bindHost.startsWith('[') ? `[${bindHost}]` : bindHost)
    }
    this.add(...[...hosts].map((h) => `${h}:${port}`))
  }

  /** True when `registry` ("host:port" as a reference carries it) is this Hangar. */
  has(registry: string | null): boolean {
    return registry !== null && this.#hosts.has(registry.toLowerCase())
  }

  /** True when a browser origin's host name is one of ours (any port: the loopback names serve local tools too). */
  hasName(hostname: string): boolean {
    return this.#names.has(hostname.toLowerCase())
  }

  /** The reference as the local store names it: without the registry when the registry is this Hangar. */
  local(ref: ParsedRef): ParsedRef {
    return this.has(ref.registry) ? { ...ref, registry: null } : ref
  }
}

function hostnameOf(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1)
  const colon = host.lastIndexOf(':')
  return colon === -1 ? host : host.slice(0, colon)
}
