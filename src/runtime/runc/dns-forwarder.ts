/**
 * The DNS forwarder of apps with domain rules: the firewall redirects their port-53 traffic
 * here (UDP and TCP, on the bridge gateway). Each query is judged by its sender's app rules
 * (domain-rules.ts): a denied name is answered REFUSED, as Sprites does, for fast failure;
 * any other is forwarded to the upstream resolvers, and for a name a rule allows, the
 * answer's A/AAAA addresses are put in the app's allowed set before the answer goes back, so
 * the connection that follows finds them there. Nothing is cached: upstream decides TTLs.
 *
 *   const fwd = new DnsForwarder({ port: 20053, upstreams: ['198.51.100.2'], lookup, learn })
 *   await fwd.listen(['10.209.0.1', 'fd68:616e:6761::1'])
 */
import { randomInt } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
import { connect, createServer, isIP, type Server } from 'node:net'
import * as dns from 'dns-packet'
import type { EgressRule } from '../types.ts'
import { judgeName, learnSeconds } from './domain-rules.ts'
import { resolvConf } from './etc.ts'
import type { LearnedAddress } from './firewall.ts'

export interface DnsForwarderOptions {
  port: number
  /** `ip`, `ip:port` or `[ip6]:port`; null: the host's resolv.conf nameservers, read at each query. */
  upstreams: string[] | null
  /** The group and rules of the machine at a source address; null for anything else (refused). */
  lookup(source: string): { group: string; rules: EgressRule[] } | null
  /** Puts addresses in a group's allowed set; the answer waits for it. */
  learn(group: string, addrs: LearnedAddress[]): Promise<void>
  logger?: { warn: (obj: object, msg: string) => void }
}

const REFUSED = 5
const SERVFAIL = 2
const UPSTREAM_TIMEOUT_MS = 2000
/** Queries one machine may have in flight; more are dropped (a resolver's client retries). */
const MAX_IN_FLIGHT_PER_SOURCE = 32

/** "1.2.3.4", "1.2.3.4:5353", "[::1]:53", "::1" → host and port. */
export function parseUpstream(s: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? (isIP(s) ? [s, s, undefined] : /^([^:]+):(\d+)$/.exec(s))
  const host = m?.[1]
  if (!host || !isIP(host)) throw new Error(`DNS upstream "${s}" is not ip, ip:port or [ip6]:port`)
  return { host, port: m?.[2] ? Number(m[2]) : 53 }
}

export class DnsForwarder {
  #o: DnsForwarderOptions
  #udp = new Map<string, Socket>()
  #tcp = new Map<string, Server>()
  #closed = false
  #retry: NodeJS.Timeout | null = null
  #retries = 0
  #warned = new Set<string>()

  constructor(opts: DnsForwarderOptions) {
    this.#o = opts
    for (const u of opts.upstreams ?? []) parseUpstream(u)
  }

  /**
   * Listens on each address not yet listened on. An address not there yet (no bridge before the
   * first machine) is left for the next call; its machines' DNS fails meanwhile, which is closed.
   */
  async listen(addresses: string[]): Promise<void> {
    const failed: string[] = []
    for (const a of addresses) {
      if (this.#closed || this.#udp.has(a)) continue
      let udp: Socket | null = null
      try {
        const sock = (udp = createSocket(isIP(a) === 6 ? 'udp6' : 'udp4'))
        await new Promise<void>((ok, fail) => sock.once('error', fail).bind(this.#o.port, a, () => ok()))
        sock.on('error', (e) => this.#o.logger?.warn({ err: e }, 'dns forwarder socket error'))
        sock.on('message', (msg, from) => void this.#answer(msg, from.address).then((r) => r && sock.send(r, from.port, from.address)))
        const tcp = createServer((sock) => this.#serveTcp(sock))
        await new Promise<void>((ok, fail) => tcp.once('error', fail).listen(this.#o.port, a, () => ok()))
        this.#udp.set(a, sock)
        this.#tcp.set(a, tcp)
      } catch (e) {
        udp?.close()
        // Once per address: a gateway that never comes (IPv6 off) should not fill the log.
        if (!this.#warned.has(a)) this.#o.logger?.warn({ err: e, address: a, port: this.#o.port }, 'dns forwarder cannot listen yet; domain-policy DNS there fails until it can')
        this.#warned.add(a)
        failed.push(a)
      }
    }
    // An IPv6 gateway is tentative for a second or two after the bridge comes up: try again soon, not only at the next rebuild.
    if (failed.length && !this.#closed && !this.#retry && this.#retries < 5) {
      this.#retries++
      this.#retry = setTimeout(() => {
        this.#retry = null
        void this.listen(failed)
      }, 2000).unref()
    }
    if (!failed.length) this.#retries = 0
  }

  /** Queries being answered, per source address. */
  #inFlight = new Map<string, number>()

  close(): void {
    this.#closed = true
    if (this.#retry) clearTimeout(this.#retry)
    for (const s of this.#udp.values()) s.close()
    for (const s of this.#tcp.values()) s.close()
    this.#udp.clear()
    this.#tcp.clear()
  }

  /** DNS over TCP: two length bytes before each message, any number of messages a connection. */
  #serveTcp(sock: import('node:net').Socket): void {
    let buf = Buffer.alloc(0)
    sock.setTimeout(10_000, () => sock.destroy())
    sock.on('error', () => {})
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d])
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0))
        buf = buf.subarray(2 + msg.length)
        void this.#answer(msg, sock.remoteAddress ?? '', true).then((r) => {
          if (r && !sock.destroyed) sock.write(Buffer.concat([lengthPrefix(r.length), r]))
        })
      }
    })
  }

  /**
   * The reply to one query; null to stay silent (not a query at all, or a machine over its share
   * of queries in flight: one machine must not hold the daemon's sockets, or the firewall's queue,
   * that every app's creates and starts wait behind).
   */
  async #answer(msg: Buffer, source: string, tcp = false): Promise<Buffer | null> {
    const n = this.#inFlight.get(source) ?? 0
    if (n >= MAX_IN_FLIGHT_PER_SOURCE) return null
    this.#inFlight.set(source, n + 1)
    try {
      return await this.#answerOne(msg, source, tcp)
    } finally {
      const left = (this.#inFlight.get(source) ?? 1) - 1
      if (left > 0) this.#inFlight.set(source, left)
      else this.#inFlight.delete(source)
    }
  }

  async #answerOne(msg: Buffer, source: string, tcp: boolean): Promise<Buffer | null> {
    let q: dns.DecodedPacket
    try {
      q = dns.decode(msg)
    } catch {
      return null
    }
    if (q.type !== 'query') return null
    const who = this.#o.lookup(source.replace(/^::ffff:/, ''))
    const name = q.questions?.length === 1 ? q.questions[0]!.name : null
    const verdict = who && name !== null ? judgeName(who.rules, name) : null
    if (!who || name === null || verdict?.action === 'deny') return reply(q, REFUSED)
    let res: Buffer
    try {
      res = await this.#upstream(msg)
    } catch (e) {
      this.#o.logger?.warn({ err: e, name }, 'dns upstream failed')
      return reply(q, SERVFAIL)
    }
    // Over UDP a client gets what fits; a truncated answer sends it back over TCP, where it gets the whole.
    if (!tcp && res.length > 512 && !hasEdns(q)) res = truncated(q)
    if (!verdict?.learn) return res
    try {
      const addrs = (dns.decode(res).answers ?? [])
        .filter((a): a is dns.StringAnswer => a.type === 'A' || a.type === 'AAAA')
        .map((a) => ({ addr: a.data, seconds: learnSeconds(a.ttl ?? 0) }))
      if (addrs.length) await this.#o.learn(who.group, addrs)
    } catch (e) {
      // An address the firewall did not take would be an answer that cannot be used: say so.
      this.#o.logger?.warn({ err: e, name, group: who.group }, 'dns answer not learned')
      return reply(q, SERVFAIL)
    }
    return res
  }

  /** Over UDP, as stub resolvers ask; over TCP when the answer came back truncated. */
  async #upstream(msg: Buffer): Promise<Buffer> {
    const list = this.#o.upstreams ?? [...(await resolvConf('/etc/resolv.conf', true)).matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1]!)
    if (!list.length) throw new Error('no upstream nameserver (none in /etc/resolv.conf, no --dns-upstream)')
    let last: unknown
    for (const u of list) {
      try {
        const to = parseUpstream(u)
        const res = await exchangeUdp(to, msg)
        return res.length >= 4 && (res.readUInt16BE(2) & dns.TRUNCATED_RESPONSE) !== 0 ? await exchangeTcp(to, msg) : res
      } catch (e) {
        last = e
      }
    }
    throw last
  }
}

function lengthPrefix(n: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}

function hasEdns(q: dns.DecodedPacket): boolean {
  return (q.additionals ?? []).some((a) => a.type === 'OPT')
}

/** An empty answer with the truncated bit: "ask again over TCP". */
function truncated(q: dns.DecodedPacket): Buffer {
  return dns.encode({ type: 'response', id: q.id ?? 0, flags: ((q.flags ?? 0) & dns.RECURSION_DESIRED) | dns.RECURSION_AVAILABLE | dns.TRUNCATED_RESPONSE, questions: q.questions ?? [] })
}

/** An answer with no records and `rcode`, echoing the query's id, question and recursion-desired bit. */
function reply(q: dns.DecodedPacket, rcode: number): Buffer {
  return dns.encode({ type: 'response', id: q.id ?? 0, flags: (q.flags ?? 0) & dns.RECURSION_DESIRED | dns.RECURSION_AVAILABLE | rcode, questions: q.questions ?? [] })
}

/** One query over UDP from a fresh socket (a random source port each time), the reply whose id matches. */
/**
 * One query upstream, hardened against forged answers (an answer decides which addresses a
 * machine may reach): a connected socket, so the kernel drops datagrams from anyone but the
 * resolver; an id of our own, not the machine's; and the answer's question must be the query's.
 */
function exchangeUdp(to: { host: string; port: number }, msg: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = createSocket(isIP(to.host) === 6 ? 'udp6' : 'udp4')
    const done = (e: Error | null, r?: Buffer) => {
      clearTimeout(timer)
      s.close()
      if (e) reject(e)
      else resolve(r!)
    }
    const timer = setTimeout(() => done(new Error(`no answer from ${to.host}:${to.port}`)), UPSTREAM_TIMEOUT_MS)
    const out = Buffer.from(msg)
    const id = randomInt(0, 65536)
    out.writeUInt16BE(id, 0)
    s.on('error', (e) => done(e))
    s.on('message', (r) => {
      if (r.length < 12 || r.readUInt16BE(0) !== id || !sameQuestion(out, r)) return
      const answer = Buffer.from(r)
      answer.writeUInt16BE(msg.readUInt16BE(0), 0)
      done(null, answer)
    })
    s.connect(to.port, to.host, () => s.send(out))
  })
}

function sameQuestion(query: Buffer, answer: Buffer): boolean {
  try {
    const [a, b] = [dns.decode(query).questions ?? [], dns.decode(answer).questions ?? []]
    return a.length === b.length && a.every((q, i) => q.name.toLowerCase() === b[i]!.name.toLowerCase() && q.type === b[i]!.type && q.class === b[i]!.class)
  } catch {
    return false
  }
}

function exchangeTcp(to: { host: string; port: number }, msg: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: to.host, port: to.port })
    let buf = Buffer.alloc(0)
    s.setTimeout(UPSTREAM_TIMEOUT_MS, () => s.destroy(new Error(`no answer from ${to.host}:${to.port}`)))
    s.on('error', reject)
    s.on('connect', () => s.write(Buffer.concat([lengthPrefix(msg.length), msg])))
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d])
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)))
        s.destroy()
      }
    })
    s.on('close', () => reject(new Error(`${to.host}:${to.port} closed without an answer`)))
  })
}
