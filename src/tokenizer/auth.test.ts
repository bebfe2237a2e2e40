import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { isHangarError } from '../errors.ts'
import { checkAuth, presentedTokens } from './auth.ts'
import { checkHosts } from './hosts.ts'
import { parseSecret } from './secret.ts'

const bearer = (t: string) => parseSecret(`{"inject_processor":{"token":"x"},"bearer_auth":{"digest":"${createHash('sha256').update(t).digest('base64')}"}}`).auth
const unauthorized = (e: unknown): boolean => isHangarError(e) && e.code === 'tokenizer_unauthorized' && e.status === 407

test('bearer_auth takes the token as Bearer, FlyV1, or a Basic password (also URL-unescaped); one good line among others suffices', () => {
  const auth = bearer('trust no1')
  const basic = (user: string, pw: string): string => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`
  for (const lines of [['Bearer trust no1'], ['FlyV1 trust no1'], [basic('u', 'trust no1')], [basic('', 'trust%20no1')], ['Bearer bogus', 'Bearer trust no1']]) {
    assert.doesNotThrow(() => checkAuth(auth, presentedTokens(lines)), String(lines))
  }
  for (const lines of [undefined, [], ['Bearer bogus'], ['bearer trust no1'], ['Bearertrust no1'], ['Basic !!!'], [basic('trust no1', 'x')]]) {
    assert.throws(() => checkAuth(auth, presentedTokens(lines)), unauthorized, String(lines))
  }
})

test('no_auth lets anyone use the secret; auth a self-hosted tokenizer cannot check is refused by name', () => {
  assert.doesNotThrow(() => checkAuth({ type: 'no_auth' }, presentedTokens([])))
  for (const type of ['fly_src_auth', 'flyio_macaroon_auth', 'macaroon_auth'] as const) {
    assert.throws(() => checkAuth({ type }, presentedTokens(['Bearer x'])), (e: unknown) => unauthorized(e) && (e as Error).message.includes(type))
  }
})

test('host rules: allowed_hosts is an exact match on what the client wrote; a pattern is unanchored and runs in linear time', () => {
  const s = (rules: string) => parseSecret(`{"inject_processor":{"token":"x"},"no_auth":{}${rules}}`)
  const refused = (e: unknown): boolean => isHangarError(e) && e.code === 'tokenizer_host_not_allowed'
  assert.doesNotThrow(() => checkHosts(s(''), 'anything.example'))
  assert.doesNotThrow(() => checkHosts(s(',"allowed_hosts":["api.example.com"]'), 'api.example.com'))
  assert.throws(() => checkHosts(s(',"allowed_hosts":["api.example.com"]'), 'api.example.com:8443'), refused)
  assert.throws(() => checkHosts(s(',"allowed_hosts":[]'), 'api.example.com'), refused)
  const pattern = s(',"allowed_host_pattern":"\\\\.example\\\\.com$"')
  assert.doesNotThrow(() => checkHosts(pattern, 'mail.example.com'))
  assert.throws(() => checkHosts(pattern, 'example.com.evil.test'), refused)
  // Catastrophic for a backtracking engine, instant here; RE2's refusals (backreferences) are refusals here too.
  assert.throws(() => checkHosts(s(',"allowed_host_pattern":"^(a+)+$"'), `${'a'.repeat(5000)}!`), refused)
  assert.throws(() => checkHosts(s(',"allowed_host_pattern":"(a)\\\\1"'), 'aa'), (e: unknown) => isHangarError(e) && e.code === 'tokenizer_bad_secret')
  assert.throws(() => checkHosts(s(',"allowed_host_pattern":"(?i)^api\\\\.example\\\\.com$"'), 'api.example.com'), (e: unknown) => isHangarError(e) && e.code === 'tokenizer_bad_secret')
})
