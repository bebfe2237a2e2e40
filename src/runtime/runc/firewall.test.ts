import { test } from 'node:test'
import assert from 'node:assert/strict'
import { firewallScript, learnScript, linkLocal, type FirewallState } from './firewall.ts'

const state = (over: Partial<FirewallState> = {}): FirewallState => ({
  name: 'hangar', bridge: 'hangar0', nameservers: ['10.0.0.2'], subnets: [{ cidr: '10.209.0.0/20', gateway: '10.209.0.1' }],
  machines: [
    { id: 'aaaa', port: 'veth1', mac: '0a:58:0a:d1:00:02', ipv4: '10.209.0.2', ipv6: null, group: 'shop' },
    { id: 'bbbb', port: 'veth2', mac: '0a:58:0a:d1:00:03', ipv4: '10.209.0.3', ipv6: null, group: 'blog' },
  ],
  policies: new Map(), dnsPort: 20053, learned: new Map(), ...over,
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

test('an app with domain rules: its DNS redirected to the forwarder, learned addresses ahead of its CIDR rules, * deny drops the rest', () => {
  const s = firewallScript(state({
    policies: new Map([['shop', [{ domain: 'api.example.com', action: 'allow' }, { cidr: '203.0.113.0/24', action: 'allow' }, { domain: '*', action: 'deny' }]]]),
    learned: new Map([['shop', [{ addr: '198.51.100.2', seconds: 99.2 }, { addr: '2001:db8::1', seconds: 0 }]]]),
  }))
  assert.match(s, /set allowed4_shop \{ type ipv4_addr; flags timeout; elements = \{ 198\.51\.100\.2 timeout 100s \} \}/)
  assert.match(s, /set allowed6_shop \{ type ipv6_addr; flags timeout; \}/, 'expired elements are not carried over')
  assert.match(s, /chain egress_shop \{\n\s+ip daddr @allowed4_shop ip daddr != \{ 0\.0\.0\.0\/8, 10\.0\.0\.0\/8.*\} accept\n\s+ip6 daddr @allowed6_shop .* accept\n\s+ip daddr 203\.0\.113\.0\/24 accept\n\s+counter drop\n/)
  // Only the shop machine's DNS goes to the forwarder; blog keeps its nameservers.
  assert.match(s, /iifname "hangar0" ip saddr \{ 10\.209\.0\.2 \} meta l4proto \{ tcp, udp \} th dport 53 dnat ip to 10\.209\.0\.1:20053/)
  assert.match(s, /th dport 20053 ct status dnat accept\n\s+counter drop/)
  assert.doesNotMatch(s, /allowed4_blog/)
})

test('apps without domain rules get no redirect and no sets', () => {
  const s = firewallScript(state({ policies: new Map([['shop', [{ cidr: '0.0.0.0/0', action: 'deny' }]]]) }))
  assert.doesNotMatch(s, /dnat|allowed4_|20053/)
})

test('learning an address resets its timeout in one transaction', () => {
  assert.equal(learnScript('hangar', 'my-app', [{ addr: '198.51.100.2', seconds: 300 }, { addr: '2001:db8::1', seconds: 60 }]), [
    'add element inet hangar_hangar allowed4_my_app { 198.51.100.2 }',
    'delete element inet hangar_hangar allowed4_my_app { 198.51.100.2 }',
    'add element inet hangar_hangar allowed4_my_app { 198.51.100.2 timeout 300s }',
    'add element inet hangar_hangar allowed6_my_app { 2001:db8::1 }',
    'delete element inet hangar_hangar allowed6_my_app { 2001:db8::1 }',
    'add element inet hangar_hangar allowed6_my_app { 2001:db8::1 timeout 60s }',
    '',
  ].join('\n'))
})

test('daemon services on the gateway (the tokenizer) are reachable from every machine, on the gateway address only', () => {
  const s = firewallScript(state({ subnets: [{ cidr: '10.209.0.0/20', gateway: '10.209.0.1' }, { cidr: 'fd68::/64', gateway: 'fd68::1' }], gatewayPorts: [4283] }))
  const input = s.slice(s.indexOf('chain from_machines {'))
  assert.match(input, /ip daddr 10\.209\.0\.1 tcp dport \{ 4283 \} accept/)
  assert.match(input, /ip6 daddr fd68::1 tcp dport \{ 4283 \} accept/)
  assert.ok(input.indexOf('tcp dport { 4283 }') < input.indexOf('counter drop'))
  assert.doesNotMatch(firewallScript(state()), /dport \{ 4283 \}/)
})
