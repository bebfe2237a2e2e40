/**
 * A real machine (busybox) uses the tokenizer as its HTTP proxy, at its network's gateway: it
 * holds only the sealed value, the upstream (HTTPS on the host's loopback, a CA of the test's own,
 * which the machine could not reach itself) gets the credential; an app whose egress policy
 * denies everything but one name still reaches the tokenizer (and no other port of the host), and
 * the tokenizer holds it to that policy too.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { daemonWithBusybox } from '../../support/machines.ts'
import { tlsUpstream } from '../../support/tls-upstream.ts'

const CREDENTIAL = 'sk-REAL-MODEL-PROVIDER-KEY-99'

test('a machine sends plain http through the tokenizer on its gateway; the credential arrives, the machine never had it', async (t) => {
  const up = await tlsUpstream(t)
  const d = await daemonWithBusybox(t, 'robot', ['--tokenizer-ca', up.caPath, '--tokenizer-allow-net', '127.0.0.0/8'])
  // This app may reach one name and nothing else; the tokenizer is how it gets there.
  await d.client.apps.setNetworkPolicy('robot', [{ domain: 'localhost', action: 'allow' }, { cidr: '0.0.0.0/0', action: 'deny' }, { cidr: '::/0', action: 'deny' }])
  const m = await d.client.machines.create('robot', { config: { image: d.image, init: { cmd: ['sleep', '3600'] } } })
  let address: string | null = null
  for (let i = 0; i < 100 && !address; i++) {
    address = (await d.client.tokenizer.info()).address
    if (!address) await sleep(100)
  }
  assert.ok(address, 'the tokenizer listens on the machines\' gateway once a machine exists')
  assert.match(address, /^http:\/\/10\.210\.\d+\.1:4283$/)

  const { sealed } = await d.client.tokenizer.seal({ inject_processor: { token: CREDENTIAL }, bearer_auth: { token: 'robot-proxy-pass' }, allowed_hosts: [up.authority] })
  // Put the sealed value in a file in the machine, as a robot's config would hold it.
  await d.client.machines.exec('robot', m.id, { command: ['sh', '-c', 'cat > /sealed'], stdin: sealed })
  const through = await d.client.machines.exec('robot', m.id, {
    command: ['sh', '-c', `S=$(cat /sealed); http_proxy=${address} wget -q -O - --header "Proxy-Tokenizer: $S" --header "Proxy-Authorization: Bearer robot-proxy-pass" http://${up.authority}/inbox`],
  })
  assert.equal(through.stdout, 'ok', through.stderr)
  const got = up.received.at(-1)!
  assert.equal(got.url, '/inbox')
  assert.equal(got.rawHeaders[got.rawHeaders.findIndex((h) => h.toLowerCase() === 'authorization') + 1], `Bearer ${CREDENTIAL}`)
  assert.ok(!got.rawHeaders.some((h) => /proxy-(tokenizer|authorization)/i.test(h)))
  // The machine's disk and environment hold the sealed value, never the credential.
  const grep = await d.client.machines.exec('robot', m.id, { command: ['sh', '-c', `grep -rl ${CREDENTIAL} /sealed /proc/self/environ 2>/dev/null; echo done`] })
  assert.equal(grep.stdout.trim(), 'done')

  // A host the secret does not allow: refused by the tokenizer, nothing sent.
  const before = up.received.length
  const elsewhere = await d.client.machines.exec('robot', m.id, {
    command: ['sh', '-c', `S=$(cat /sealed); http_proxy=${address} wget -q -O - --header "Proxy-Tokenizer: $S" --header "Proxy-Authorization: Bearer robot-proxy-pass" http://127.0.0.1:${up.port}/x 2>&1; echo " exit=$?"`],
  })
  assert.match(elsewhere.stdout, /400/)
  assert.equal(up.received.length, before)

  // The same upstream by address, with a secret allowed there: the app's policy denies 127.0.0.1, so the tokenizer does too.
  const byAddress = (await d.client.tokenizer.seal({ inject_processor: { token: CREDENTIAL }, no_auth: {}, allowed_hosts: [`127.0.0.1:${up.port}`] })).sealed
  const denied = await d.client.machines.exec('robot', m.id, {
    command: ['sh', '-c', `http_proxy=${address} wget -q -O - --header "Proxy-Tokenizer: ${byAddress}" http://127.0.0.1:${up.port}/x 2>&1; echo " exit=$?"`],
  })
  assert.match(denied.stdout, /403/)
  assert.equal(up.received.length, before)
  // From the host (no app, no policy) the same secret goes through.
  const { rawExchange } = await import('../../support/raw-http.ts')
  const host = await rawExchange(Number(new URL(d.tokenizerUrl).port), `GET http://127.0.0.1:${up.port}/x HTTP/1.1\r\nHost: 127.0.0.1:${up.port}\r\nProxy-Tokenizer: ${byAddress}\r\nConnection: close\r\n\r\n`)
  assert.equal(host.status, 200, host.raw)

  // Only the tokenizer's port on the gateway is open to machines: a server on another port there gets nothing.
  const gw = new URL(address).hostname
  let accepted = 0
  const other = createServer((s) => {
    accepted++
    s.destroy()
  })
  await new Promise<void>((r) => other.listen(0, gw, r))
  t.after(() => other.close())
  const probe = await d.client.machines.exec('robot', m.id, { command: ['sh', '-c', `nc -w 2 ${gw} ${(other.address() as AddressInfo).port} </dev/null; echo " exit=$?"`] })
  assert.match(probe.stdout, /exit=1/)
  assert.equal(accepted, 0)
})
