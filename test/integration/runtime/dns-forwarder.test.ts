/**
 * The DNS forwarder on loopback: a test upstream on 127.0.0.1, queries from 127.0.0.1 (which
 * the lookup treats as a machine of app "shop"). Nothing leaves loopback.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { connect } from 'node:net'
import * as dns from 'dns-packet'
import { DnsForwarder } from '../../../src/runtime/runc/dns-forwarder.ts'
import type { LearnedAddress } from '../../../src/runtime/runc/firewall.ts'
import type { EgressRule } from '../../../src/runtime/types.ts'
import { startDnsServer } from '../../support/dns-server.ts'
import { freePort } from '../../support/net.ts'

const rules: EgressRule[] = [{ domain: 'allowed.test', action: 'allow' }, { domain: 'denied.test', action: 'deny' }, { cidr: '0.0.0.0/0', action: 'deny' }]

function queryUdp(port: number, name: string): Promise<dns.DecodedPacket & { rcode?: string }> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4')
    const timer = setTimeout(() => (s.close(), reject(new Error('no answer'))), 3000)
    s.on('message', (m) => (clearTimeout(timer), s.close(), resolve(dns.decode(m))))
    s.send(dns.encode({ type: 'query', id: 7, flags: dns.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), port, '127.0.0.1')
  })
}

function queryTcp(port: number, name: string): Promise<dns.DecodedPacket & { rcode?: string }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port })
    s.on('error', reject)
    s.on('data', (d) => (s.destroy(), resolve(dns.decode(d.subarray(2)))))
    s.write(dns.streamEncode({ type: 'query', id: 9, flags: dns.RECURSION_DESIRED, questions: [{ type: 'A', name }] }))
  })
}

test('denied names are REFUSED, allowed names forwarded and their addresses learned first, unknown senders refused', async (t) => {
  const upstream = await startDnsServer('127.0.0.1', 0, { 'allowed.test': '198.51.100.2', 'denied.test': '198.51.100.3', 'other.test': '198.51.100.4' }, 5)
  t.after(() => upstream.close())
  const learned: { group: string; addrs: LearnedAddress[] }[] = []
  let sender: string | null = '127.0.0.1'
  const port = await freePort()
  const fwd = new DnsForwarder({
    port,
    upstreams: [`127.0.0.1:${upstream.port}`],
    lookup: (source) => (source === sender ? { group: 'shop', rules } : null),
    learn: async (group, addrs) => void learned.push({ group, addrs }),
  })
  await fwd.listen(['127.0.0.1'])
  t.after(() => fwd.close())

  const ok = await queryUdp(port, 'allowed.test')
  assert.equal(ok.rcode, 'NOERROR')
  assert.deepEqual(ok.answers?.map((a) => (a as dns.StringAnswer).data), ['198.51.100.2'])
  assert.deepEqual(learned, [{ group: 'shop', addrs: [{ addr: '198.51.100.2', seconds: 60 }] }], 'a 5 s TTL is learned for a minute')

  const no = await queryUdp(port, 'Denied.Test')
  assert.equal(no.rcode, 'REFUSED')
  assert.equal(no.id, 7)
  assert.ok(!upstream.asked.some((n) => n.toLowerCase() === 'denied.test'), 'a denied name never reaches upstream')

  const other = await queryTcp(port, 'other.test')
  assert.equal(other.rcode, 'NOERROR', 'unmatched names resolve (over TCP too)')
  assert.equal(learned.length, 1, 'but are not learned')

  sender = null
  assert.equal((await queryUdp(port, 'allowed.test')).rcode, 'REFUSED', 'a sender that is no machine of a domain-policy app')
})

test('an upstream that does not answer is SERVFAIL', async (t) => {
  const port = await freePort()
  const dead = await freePort()
  const fwd = new DnsForwarder({ port, upstreams: [`127.0.0.1:${dead}`], lookup: () => ({ group: 'shop', rules }), learn: async () => {} })
  await fwd.listen(['127.0.0.1'])
  t.after(() => fwd.close())
  assert.equal((await queryUdp(port, 'allowed.test')).rcode, 'SERVFAIL')
})
