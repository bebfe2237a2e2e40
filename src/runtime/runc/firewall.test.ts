import { test } from 'node:test'
import assert from 'node:assert/strict'
import { firewallScript, linkLocal, type FirewallState } from './firewall.ts'

const state = (over: Partial<FirewallState> = {}): FirewallState => ({
  name: 'hangar', bridge: 'hangar0', nameservers: ['10.0.0.2'], subnets: [{ cidr: '10.209.0.0/20', gateway: '10.209.0.1' }],
  machines: [
    { id: 'aaaa', port: 'veth1', mac: '0a:58:0a:d1:00:02', ipv4: '10.209.0.2', ipv6: null, group: 'shop' },
    { id: 'bbbb', port: 'veth2', mac: '0a:58:0a:d1:00:03', ipv4: '10.209.0.3', ipv6: null, group: 'blog' },
  ],
  policies: new Map(), ...over,
})

test('each port is held to its MAC and addresses and may only reach its own group\'s ports', () => {
  const s = firewallScript(state())
  assert.match(s, /chain from_aaaa \{\n\s+ether saddr != 0a:58:0a:d1:00:02 counter drop/)
  assert.match(s, /arp saddr ip != 10\.209\.0\.2 counter drop/)
  assert.match(s, /set ports_shop \{ type ifname; elements = \{ "veth1" \} \}/)
  assert.match(s, /iifname vmap \{ "veth1" : jump only_shop, "veth2" : jump only_blog \}/)
  assert.match(s, /icmpv6 type \{ nd-router-advert, nd-redirect \} counter drop/)
  // Routing through the host to another machine is stopped where it enters the host.
  assert.match(s, /ip daddr 10\.209\.0\.0\/20 ip daddr != 10\.209\.0\.1 counter drop/)
})

test('a group\'s egress rules come in order, before the default refusals; nameservers before both', () => {
  const s = firewallScript(state({ policies: new Map([['shop', [{ cidr: '192.168.5.0/24', action: 'allow' }, { cidr: '0.0.0.0/0', action: 'deny' }]]]) }))
  const egress = s.slice(s.indexOf('chain egress {'))
  assert.ok(egress.indexOf('th dport 53 accept') < egress.indexOf('ip saddr vmap'), 'DNS first')
  assert.ok(egress.indexOf('ip saddr vmap') < egress.indexOf('169.254.0.0/16'), 'app rules before defaults')
  assert.match(s, /chain egress_shop \{\n\s+ip daddr 192\.168\.5\.0\/24 accept\n\s+ip daddr 0\.0\.0\.0\/0 drop\n/)
  assert.match(s, /chain egress_blog \{\n\s+\}/)
})

test('with no machines the tables still stand, ready for the first', () => {
  const s = firewallScript(state({ machines: [] }))
  assert.match(s, /table bridge hangar_hangar \{/)
  assert.doesNotMatch(s, /vmap/)
})

test('a MAC\'s EUI-64 link-local address', () => {
  assert.equal(linkLocal('0a:58:0a:d1:00:03'), 'fe80::858:aff:fed1:3')
  assert.equal(linkLocal('02:42:ac:11:00:02'), 'fe80::42:acff:fe11:2')
})
