/**
 * Whether a secret is one this tokenizer can use, checked before it is sealed: its auth is one a
 * self-hosted tokenizer can check, its processors are ones it runs, with their credential present
 * and a dst and fmt that work without request params, and its host pattern compiles. A secret
 * sealed elsewhere is checked the same way when it is used; this only says so earlier.
 *
 *   checkSealable(parseSecret(json))     // throws tokenizer_bad_secret naming what is wrong
 */
import { HangarError } from '../errors.ts'
import { checkAuth } from './auth.ts'
import { Draft } from './draft.ts'
import { compilePattern } from './hosts.ts'
import { applyDst, applyFmt, buildProcessor } from './processors.ts'
import type { Processor, Secret } from './secret.ts'

function checkProcessor(p: Processor): void {
  if (p.type === 'multi_processor') {
    if (!p.processors.length) throw new HangarError('tokenizer_bad_secret', 'multi_processor lists no processor')
    return p.processors.forEach(checkProcessor)
  }
  buildProcessor(p, {})
  if (p.type === 'inject_processor' || p.type === 'inject_hmac_processor') {
    applyFmt(p, {}, p.type === 'inject_processor' ? p.token : Buffer.alloc(32))
    applyDst(p, {}, new Draft('GET', 'check', '/', []), 'x')
  }
}

export function checkSealable(s: Secret): void {
  if (s.auth.type !== 'bearer_auth' && s.auth.type !== 'no_auth') {
    // The same refusal a request would get, said at sealing time.
    try {
      checkAuth(s.auth, { digests: [] })
    } catch (e) {
      throw new HangarError('tokenizer_bad_secret', (e as Error).message, { hint: 'use bearer_auth (a token the client sends as Proxy-Authorization) or no_auth' })
    }
  }
  if (s.auth.type === 'bearer_auth' && s.auth.digest?.length !== 32) throw new HangarError('tokenizer_bad_secret', 'bearer_auth.digest must be base64 of a 32-byte SHA-256')
  checkProcessor(s.processor)
  if (s.allowedHostPattern) compilePattern(s.allowedHostPattern)
}
