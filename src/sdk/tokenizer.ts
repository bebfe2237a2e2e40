/**
 * hangar.tokenizer: seal a credential so a robot holds only a placeholder, and find the proxy.
 *   const { sealed } = await hangar.tokenizer.seal({ inject_processor: { token: apiKey }, bearer_auth: { token: proxyToken }, allowed_hosts: ['api.example.com'] })
 *   const { address } = await hangar.tokenizer.info()   // machines: http_proxy=<address>
 */
import type { Http } from './http.ts'
import type { SealInput, TokenizerInfo } from '../platform/index.ts'

export type { SealInput, TokenizerInfo }

export class Tokenizer {
  #http: Http
  constructor(http: Http) {
    this.#http = http
  }

  /** The seal key (what secrets are sealed to, superfly/tokenizer's format) and the proxy's addresses. */
  info(): Promise<TokenizerInfo> {
    return this.#http.json('GET', '/v1/tokenizer')
  }

  /** Seals a secret (superfly/tokenizer's JSON) to the tokenizer's key; the credential is not kept anywhere. */
  seal(secret: SealInput): Promise<{ sealed: string }> {
    return this.#http.json('POST', '/v1/tokenizer/seal', { body: secret })
  }
}
