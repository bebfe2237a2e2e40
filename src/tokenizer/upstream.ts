/**
 * The tokenizer's side of the upstream connection: always TLS, verified against Node's bundled
 * roots plus the operator's extra CAs, dialled only at addresses the policy allows (the check runs
 * on the resolved address, in the connection's own lookup, so a name cannot resolve one way for
 * the check and another for the dial). Connections are kept alive and reused per host and port.
 *
 *   const up = new Upstream({ ca: [pem], allowNets: ['127.0.0.0/8'] })
 *   const upReq = up.request(target, draft)      // an http.ClientRequest; errors via upstreamError()
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { Agent, request as httpsRequest } from 'node:https'
import type { ClientRequest } from 'node:http'
import { isIP, type LookupFunction } from 'node:net'
import { createSecureContext, rootCertificates } from 'node:tls'
import { HangarError } from '../errors.ts'
import type { Draft } from './draft.ts'
import { AddressPolicy, type Target } from './target.ts'

export interface UpstreamOptions {
  /** PEM text of CAs trusted besides Node's bundled roots (the operator's --tokenizer-ca files). */
  ca?: readonly string[]
  /** Blocks the tokenizer may dial although they are not public internet (--tokenizer-allow-net). */
  allowNets?: readonly string[]
  /** Connect and TLS handshake must finish within this. */
  connectTimeoutMs?: number
}

const refusedMark = Symbol('tokenizer.refused')

/**
 * What the sender's own egress policy says (its app's rules, by its source address): a refusal by
 * name, or a check of each address; null when no rules apply. `key` names the rules: connections
 * are pooled per key, so one dialled under some rules is never reused under others.
 */
export type EgressCheck = { refused: string } | { key: string; address(ip: string): string | null } | null

/** Distinct egress policies whose connection pools are kept; past it the oldest pool closes. */
const maxPools = 64

export class Upstream {
  #agent: Agent
  #pools = new Map<string, Agent>()
  #agentOptions: ConstructorParameters<typeof Agent>[0]
  #policy: AddressPolicy
  #connectTimeoutMs: number

  constructor(opts: UpstreamOptions = {}) {
    this.#policy = new AddressPolicy(opts.allowNets ?? [])
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? 10_000
    this.#agentOptions = {
      keepAlive: true,
      maxSockets: 64,
      maxFreeSockets: 16,
      scheduling: 'lifo',
      // One context made once: the agent keys its pool by options, and a `ca` list (Node's roots
      // plus the operator's) would be joined into that key on every request.
      ...(opts.ca?.length ? { secureContext: createSecureContext({ ca: [...rootCertificates, ...opts.ca] }) } : {}),
    }
    this.#agent = new Agent(this.#agentOptions)
  }

  /** Why `ip` may not be dialled for this request (the tokenizer's policy, then the sender's), or null. */
  #refusal(ip: string, egress: EgressCheck): string | null {
    return this.#policy.refusal(ip) ?? (egress && 'address' in egress ? egress.address(ip) : null)
  }

  #lookupFor(egress: EgressCheck): LookupFunction {
    return ((hostname: string, options: { all?: boolean; family?: number }, cb: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
      dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (err, addrs) => {
        if (err) return cb(err, [])
        const ok = addrs.filter((a) => this.#refusal(a.address, egress) === null)
        if (!ok.length) {
          const first = addrs[0]?.address ?? 'nothing'
          return cb(Object.assign(new Error(`${hostname} resolves to ${first}: ${this.#refusal(first, egress) ?? 'refused'}`), { [refusedMark]: true }), [])
        }
        if (options.all) cb(null, ok)
        else cb(null, ok[0]!.address, ok[0]!.family)
      })
    }) as unknown as LookupFunction
  }

  #agentFor(egress: EgressCheck): Agent {
    if (!egress || !('key' in egress)) return this.#agent
    let a = this.#pools.get(egress.key)
    if (!a) {
      if (this.#pools.size >= maxPools) {
        const [oldest, pool] = this.#pools.entries().next().value as [string, Agent]
        pool.destroy()
        this.#pools.delete(oldest)
      }
      a = new Agent(this.#agentOptions)
      this.#pools.set(egress.key, a)
    }
    return a
  }

  /** Starts the upstream request (the caller writes or pipes the body). Throws tokenizer_target_refused for an address literal the policy refuses. */
  request(target: Target, d: Draft, contentLength: number | null, chunked: boolean, egress: EgressCheck = null): ClientRequest {
    if (egress && 'refused' in egress) throw new HangarError('tokenizer_target_refused', egress.refused)
    if (isIP(target.hostname)) {
      const why = this.#refusal(target.hostname, egress)
      if (why) throw new HangarError('tokenizer_target_refused', `${target.hostname}: ${why}`)
    }
    const framing = contentLength !== null ? ['Content-Length', String(contentLength)] : chunked ? ['Transfer-Encoding', 'chunked'] : []
    const req = httpsRequest({
      agent: this.#agentFor(egress),
      host: target.hostname,
      port: target.port,
      ...(isIP(target.hostname) ? {} : { servername: target.hostname }),
      method: d.method,
      path: d.path,
      headers: ['Host', target.hostHeader, ...d.raw(), ...framing] as unknown as Record<string, string>,
      lookup: this.#lookupFor(egress),
    })
    // Only until the socket is up: a slow answer (a long completion, a stream) is the upstream's business.
    const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no TLS connection to ${target.hostname}:${target.port} within ${this.#connectTimeoutMs} ms`), { code: 'ETIMEDOUT' })), this.#connectTimeoutMs)
    req.once('socket', (s) => {
      // A kept-alive socket is connected and secure already.
      if (req.reusedSocket) clearTimeout(timer)
      else s.once('secureConnect', () => clearTimeout(timer))
    })
    req.once('close', () => clearTimeout(timer))
    return req
  }

  close(): void {
    this.#agent.destroy()
    for (const a of this.#pools.values()) a.destroy()
    this.#pools.clear()
  }
}

/** What went wrong upstream, as the client should hear it: never the request, never a header. */
export function upstreamError(e: unknown, target: Target): HangarError {
  const err = e as NodeJS.ErrnoException & { [refusedMark]?: boolean }
  const where = `${target.hostname}:${target.port}`
  if (err?.[refusedMark]) return new HangarError('tokenizer_target_refused', err.message)
  const code = err?.code ?? ''
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new HangarError('tokenizer_upstream_failed', `cannot resolve ${target.hostname}`)
  if (code === 'ECONNREFUSED') return new HangarError('tokenizer_upstream_failed', `${where} refused the connection`)
  if (code === 'ETIMEDOUT') return new HangarError('tokenizer_upstream_failed', err.message)
  if (/CERT|SSL|TLS|EPROTO|SELF_SIGNED|ALTNAME|UNABLE_TO/i.test(code) || /SSL|TLS|certificate/i.test(err?.message ?? '')) {
    return new HangarError('tokenizer_upstream_failed', `TLS with ${where} failed (${code || 'handshake'}): the tokenizer only sends secrets over TLS to a certificate it trusts`, {
      hint: 'check that the upstream speaks TLS on that port with a certificate for its name; trust a private CA with --tokenizer-ca',
    })
  }
  return new HangarError('tokenizer_upstream_failed', `${where}: ${code || 'connection failed'}`)
}
