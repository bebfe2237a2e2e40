import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isSpecialAddress } from './special-addresses.ts'

test('special addresses: loopback, private, link-local, CGNAT, multicast, mapped and unparsable ones; public ones are not', () => {
  for (const a of ['127.0.0.1', '127.9.9.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0',
    '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fd00::1', 'fc00::5', 'ff02::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'localhost', '1.2.3', '']) {
    assert.ok(isSpecialAddress(a), a)
  }
  for (const a of ['192.0.2.1', '198.51.100.7', '203.0.113.9', '172.32.0.1', '2001:db8::1']) assert.ok(!isSpecialAddress(a), a)
})
