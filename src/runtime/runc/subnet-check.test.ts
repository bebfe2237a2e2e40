import { test } from 'node:test'
import assert from 'node:assert/strict'
import { findClash } from './subnet-check.ts'

const network = { name: 'hangar', bridge: 'hangar0', subnet: '10.210.86.0/24', subnet6: 'fd68:616e:6761:56::/64' }
const iface = (ifname: string, ...addrs: [string, number, string?][]) => ({
  ifname,
  addr_info: addrs.map(([local, prefixlen, scope]) => ({ family: local.includes(':') ? 'inet6' : 'inet', local, prefixlen, scope: scope ?? 'global' })),
})

test('another interface holding the subnet is a clash; our own bridge, link-local and other blocks are not', () => {
  assert.equal(findClash(network, [iface('hangar0', ['10.210.86.1', 24]), iface('lo', ['127.0.0.1', 8, 'host']), iface('eth0', ['192.168.1.5', 24], ['fe80::1', 64, 'link'])]), null)
  assert.deepEqual(findClash(network, [iface('hgother', ['10.210.86.1', 24])]), { ifname: 'hgother', address: '10.210.86.1/24', subnet: '10.210.86.0/24' })
  assert.deepEqual(findClash(network, [iface('vpn0', ['10.0.0.2', 8])]), { ifname: 'vpn0', address: '10.0.0.2/8', subnet: '10.210.86.0/24' })
  assert.equal(findClash(network, [iface('wg0', ['fd68:616e:6761:56::9', 64])])?.subnet, 'fd68:616e:6761:56::/64')
})
