import { test } from 'node:test'
import assert from 'node:assert/strict'
import { firstHost, parseCidr, overlaps } from './cidr.ts'

test('addresses and blocks come out canonical, bare addresses as host routes', () => {
  assert.deepEqual(parseCidr('10.0.5.0/24'), { cidr: '10.0.5.0/24', family: 4 })
  assert.deepEqual(parseCidr('198.51.100.7'), { cidr: '198.51.100.7/32', family: 4 })
  assert.deepEqual(parseCidr('0.0.0.0/0'), { cidr: '0.0.0.0/0', family: 4 })
  assert.deepEqual(parseCidr('2001:DB8:0:0::/32'), { cidr: '2001:db8::/32', family: 6 })
  assert.deepEqual(parseCidr('::/0'), { cidr: '::/0', family: 6 })
  assert.deepEqual(parseCidr('fd00::1'), { cidr: 'fd00::1/128', family: 6 })
  assert.deepEqual(parseCidr('::ffff:10.1.2.3'), { cidr: '::ffff:a01:203/128', family: 6 })
})

test('malformed blocks say what is wrong, and host bits name the block meant', () => {
  assert.throws(() => parseCidr('10.0.0.5/8'), /host bits set under \/8; did you mean 10\.0\.0\.0\/8\?/)
  assert.throws(() => parseCidr('2001:db8::1/32'), /did you mean 2001:db8::\/32\?/)
  for (const bad of ['10.0.0.0/33', '10.0.0/8', 'example.com', '10.0.0.0/', '10.0.0.0/-1', '::/129', '', '1.2.3.4/08x']) assert.throws(() => parseCidr(bad), bad)
})

test('the first host of a block is where the gateway sits', () => {
  assert.equal(firstHost('10.209.0.0/20'), '10.209.0.1')
  assert.equal(firstHost('fd68:616e:6761::/64'), 'fd68:616e:6761::1')
})

test('overlaps: blocks sharing any address, an interface address standing for its network', () => {
  assert.equal(overlaps('10.0.0.0/8', '10.5.0.0/24'), true)
  assert.equal(overlaps('10.5.0.0/24', '10.0.0.0/8'), true)
  assert.equal(overlaps('10.0.0.0/24', '10.0.1.0/24'), false)
  assert.equal(overlaps('10.210.86.1/24', '10.210.86.0/24'), true)
  assert.equal(overlaps('10.210.86.1/24', '10.210.87.0/24'), false)
  assert.equal(overlaps('fd68::1/64', 'fd68::/48'), true)
  assert.equal(overlaps('fd68::1/64', '10.0.0.0/8'), false)
})
