import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isHangarError } from '../errors.ts'
import { AddressPolicy, targetOf } from './target.ts'

test('plain http targets become TLS: no port or 80 → 443, another port stays, 443 is refused', () => {
  assert.deepEqual(targetOf('api.example.com'), { authority: 'api.example.com', hostname: 'api.example.com', port: 443, hostHeader: 'api.example.com' })
  assert.deepEqual(targetOf('api.example.com:80'), { authority: 'api.example.com:80', hostname: 'api.example.com', port: 443, hostHeader: 'api.example.com' })
  assert.deepEqual(targetOf('[2001:db8::1]:8443'), { authority: '[2001:db8::1]:8443', hostname: '2001:db8::1', port: 8443, hostHeader: '[2001:db8::1]:8443' })
  for (const bad of ['api.example.com:443', 'a:b', '', 'user@host', '[zz]:1', 'h:70000']) {
    assert.throws(() => targetOf(bad), (e: unknown) => isHangarError(e) && e.code === 'tokenizer_bad_request', bad)
  }
})

test('the address policy refuses loopback, private, link-local, unique-local and mapped addresses unless a block is allowed', () => {
  const p = new AddressPolicy()
  for (const a of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '224.0.0.1']) {
    assert.ok(p.refusal(a), a)
  }
  for (const a of ['198.51.100.7', '2001:db8::1', '::ffff:198.51.100.7']) assert.equal(p.refusal(a), null, a)
  assert.match(p.refusal('169.254.169.254') ?? '', /link-local/)
  const lo = new AddressPolicy(['127.0.0.0/8'])
  assert.equal(lo.refusal('127.0.0.1'), null)
  assert.equal(lo.refusal('::ffff:127.0.0.1'), null)
  assert.ok(lo.refusal('10.0.0.1'))
})
