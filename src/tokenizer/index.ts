/**
 * The tokenizer: secrets sealed to its key (superfly/tokenizer's format, so its tools' secrets
 * open here) and a forward proxy that opens them, checks auth and hosts, injects, and goes on over TLS.
 *   const tkz = await createTokenizer({ openKey, allowNets: [], ca: [] })
 *   await tkz.listen('127.0.0.1', 4283)
 *   const sealed = await seal(JSON.stringify({ inject_processor: { token }, no_auth: {}, allowed_hosts: ['api.example.com'] }), tkz.sealKey)
 */
import type { AddressInfo } from 'node:net'
import { loadKeys } from './keys.ts'
import { TokenizerProxy, type ProxyLogger } from './proxy.ts'
import { Unsealer } from './unseal.ts'
import { Upstream, type EgressCheck } from './upstream.ts'

export { seal } from './keys.ts'
export { parseSecret, redact, processorTypes, authTypes, type Secret, type Processor } from './secret.ts'
export { checkSealable } from './sealable.ts'
export type { ProxyLogger } from './proxy.ts'
export type { EgressCheck } from './upstream.ts'

export interface TokenizerOptions {
  /** 32 bytes, hex: the key secrets open with (<data-dir>/tokenizer-key). */
  openKey: string
  /** PEM text of extra CAs to trust for upstreams. */
  ca?: readonly string[]
  /** Non-public blocks the tokenizer may dial (loopback, the LAN): none by default. */
  allowNets?: readonly string[]
  /** Forward requests that carry no sealed secret; default false. */
  openProxy?: boolean
  maxHeaderBytes?: number
  maxBodyBytes?: number
  logger?: ProxyLogger
  /** The sender's own egress policy for a host, by its source address (the daemon: the machine's app rules). */
  egress?: (source: string, hostname: string) => EgressCheck
}

export interface Tokenizer {
  /** Hex X25519 public key: what secrets are sealed to. */
  sealKey: string
  /** Listens on one more address; resolves with the address bound. */
  listen(host: string, port: number): Promise<AddressInfo>
  close(): Promise<void>
}

export async function createTokenizer(opts: TokenizerOptions): Promise<Tokenizer> {
  const keys = await loadKeys(opts.openKey)
  const upstream = new Upstream({ ...(opts.ca ? { ca: opts.ca } : {}), ...(opts.allowNets ? { allowNets: opts.allowNets } : {}) })
  const proxy = new TokenizerProxy({
    unsealer: new Unsealer(keys),
    upstream,
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.openProxy !== undefined ? { openProxy: opts.openProxy } : {}),
    ...(opts.maxHeaderBytes !== undefined ? { maxHeaderBytes: opts.maxHeaderBytes } : {}),
    ...(opts.maxBodyBytes !== undefined ? { maxBodyBytes: opts.maxBodyBytes } : {}),
    ...(opts.egress ? { egress: opts.egress } : {}),
  })
  return {
    sealKey: keys.sealKey,
    listen: (host, port) => proxy.listen(host, port),
    async close() {
      await proxy.close()
      upstream.close()
    },
  }
}
