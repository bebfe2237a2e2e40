/**
 * Where a secret may be sent: `allowed_hosts` (the request's host exactly as the client wrote it,
 * port included when it wrote one) and `allowed_host_pattern` (a regular expression, unanchored,
 * as Go's MatchString). Patterns run on V8's linear-time engine, as Go's RE2 does: a sealed
 * pattern cannot stall the proxy with backtracking, and what RE2 refuses (backreferences,
 * lookaround) is refused here too. That engine has no case-insensitive mode, so RE2's (?i) is
 * refused: write the pattern in lower case (host names are).
 *
 *   checkHosts(secret, 'api.example.com')     // throws tokenizer_host_not_allowed
 */
import { setFlagsFromString } from 'node:v8'
import { HangarError } from '../errors.ts'
import type { Secret } from './secret.ts'

// The `l` flag needs this V8 flag; it only changes which engine runs regular expressions that ask for it.
setFlagsFromString('--enable-experimental-regexp-engine')

const maxPatternLength = 1024
const cache = new Map<string, RegExp>()

/** A pattern as RE2 spells it, compiled for the linear engine. Throws tokenizer_bad_secret. */
export function compilePattern(pattern: string): RegExp {
  const hit = cache.get(pattern)
  if (hit) return hit
  if (pattern.length > maxPatternLength) throw new HangarError('tokenizer_bad_secret', `allowed_host_pattern is longer than ${maxPatternLength} characters`)
  let re: RegExp
  try {
    re = new RegExp(pattern, 'l')
  } catch (e) {
    throw new HangarError('tokenizer_bad_secret', `allowed_host_pattern does not compile as a linear-time pattern: ${(e as Error).message}`)
  }
  if (cache.size >= 256) cache.delete(cache.keys().next().value as string)
  cache.set(pattern, re)
  return re
}

export function checkHosts(s: Secret, host: string): void {
  const refuse = (): never => {
    throw new HangarError('tokenizer_host_not_allowed', `the secret may not be sent to ${host}`, { details: { host } })
  }
  if (s.allowedHosts && !s.allowedHosts.includes(host)) refuse()
  if (s.allowedHostPattern && !compilePattern(s.allowedHostPattern).test(host)) refuse()
}
