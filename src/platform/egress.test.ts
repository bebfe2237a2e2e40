import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { EgressRule } from '../runtime/types.ts'
import { judgeRules } from './egress.ts'

/** 'refused', or what the address check says of each address. */
function verdict(rules: EgressRule[], host: string, ips: string[]): string | (string | null)[] {
  const j = judgeRules(rules, 'k', host)
  if (!j) return 'none'
  if ('refused' in j) return 'refused'
  return ips.map((ip) => (j.address(ip) === null ? 'ok' : 'denied'))
}

test('the tokenizer judges a machine\'s targets in the firewall\'s order: domain rules on the name, then CIDR rules on the address', () => {
  const allowlist: EgressRule[] = [{ domain: 'api.example.com', action: 'allow' }, { domain: '*', action: 'deny' }]
  assert.deepEqual(verdict(allowlist, 'api.example.com', ['198.51.100.7']), ['ok'])
  assert.equal(verdict(allowlist, 'other.example.com', []), 'refused')
  // An address literal meets no domain rule; `*` deny drops it.
  assert.deepEqual(verdict(allowlist, '198.51.100.7', ['198.51.100.7']), ['denied'])
  const cidrs: EgressRule[] = [{ cidr: '198.51.100.0/24', action: 'allow' }, { cidr: '0.0.0.0/0', action: 'deny' }]
  assert.deepEqual(verdict(cidrs, 'any.example', ['198.51.100.9', '203.0.113.1']), ['ok', 'denied'])
  // A named allow goes ahead of the CIDR rules, as the firewall's learned addresses do.
  assert.deepEqual(verdict([{ domain: 'localhost', action: 'allow' }, { cidr: '0.0.0.0/0', action: 'deny' }], 'localhost', ['127.0.0.1']), ['ok'])
  // `*` allow resolves every name but opens no address.
  assert.deepEqual(verdict([{ domain: '*', action: 'allow' }, { cidr: '0.0.0.0/0', action: 'deny' }], 'a.example', ['203.0.113.1']), ['denied'])
  // First match wins: an earlier deny of a block beats a later allow.
  assert.deepEqual(verdict([{ cidr: '203.0.113.0/24', action: 'deny' }, { cidr: '203.0.113.0/25', action: 'allow' }], 'x.example', ['203.0.113.5']), ['denied'])
})
