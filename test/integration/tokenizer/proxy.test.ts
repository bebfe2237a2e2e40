/**
 * The tokenizer against a real HTTPS upstream on loopback with a CA of the test's own: what the
 * upstream receives, what the client sent, and every refusal with its status, code and reason.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import sodium from 'libsodium-wrappers'
import { createTokenizer, seal, type Tokenizer, type TokenizerOptions } from '../../../src/tokenizer/index.ts'
import { connectTunnel, rawExchange, type RawResponse } from '../../support/raw-http.ts'
import { tlsUpstream, type TlsUpstream } from '../../support/tls-upstream.ts'

const CREDENTIAL = 'sk_live_REAL_CREDENTIAL_7f3a'
const PROXY_AUTH = 'trustno1'
const digest = createHash('sha256').update(PROXY_AUTH).digest('base64')

interface Rig {
  tkz: Tokenizer
  port: number
  up: TlsUpstream
  logs: string[]
}

async function rig(t: TestContext, opts: Partial<TokenizerOptions> = {}): Promise<Rig> {
  const up = await tlsUpstream(t)
  const logs: string[] = []
  const logger = { debug: (o: object, m: string) => logs.push(`${m} ${JSON.stringify(o)}`), info: (o: object, m: string) => logs.push(`${m} ${JSON.stringify(o)}`), warn: (o: object, m: string) => logs.push(`${m} ${JSON.stringify(o)}`) }
  const tkz = await createTokenizer({ openKey: randomBytes(32).toString('hex'), ca: [up.caPem], allowNets: ['127.0.0.0/8'], logger, ...opts })
  const { port } = await tkz.listen('127.0.0.1', 0)
  t.after(() => tkz.close())
  return { tkz, port, up, logs }
}

const secret = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ inject_processor: { token: CREDENTIAL }, bearer_auth: { digest }, ...extra })

/** A request through the proxy, byte for byte as a client in a machine would send it. */
function request(target: string, headers: Record<string, string>, opts: { method?: string; body?: string } = {}): string {
  const host = /^http:\/\/([^/]+)/.exec(target)?.[1] ?? ''
  const lines = [`${opts.method ?? 'GET'} ${target} HTTP/1.1`, `Host: ${host}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), 'Connection: close']
  if (opts.body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(opts.body)}`)
  return `${lines.join('\r\n')}\r\n\r\n${opts.body ?? ''}`
}

function refused(r: RawResponse, status: number, code: string): void {
  assert.equal(r.status, status, r.raw)
  assert.equal(JSON.parse(r.body).code, code, r.body)
  assert.ok(!r.raw.includes(CREDENTIAL), 'a refusal never carries the credential')
}

function headersOf(rawHeaders: string[]): Map<string, string[]> {
  const m = new Map<string, string[]>()
  for (let i = 0; i < rawHeaders.length; i += 2) m.set(rawHeaders[i]!.toLowerCase(), [...(m.get(rawHeaders[i]!.toLowerCase()) ?? []), rawHeaders[i + 1]!])
  return m
}

test('the credential arrives injected over TLS; the client\'s request never held it, and the proxy headers never reach the upstream', async (t) => {
  const r = await rig(t)
  const sealed = await seal(JSON.stringify(secret({ allowed_hosts: [r.up.authority] })), r.tkz.sealKey)
  const sent = request(`http://${r.up.authority}/v1/messages?x=1`, { 'Proxy-Tokenizer': sealed, 'Proxy-Authorization': `Bearer ${PROXY_AUTH}`, 'X-Robot': 'hello' })
  assert.ok(!sent.includes(CREDENTIAL))
  const res = await rawExchange(r.port, sent)
  assert.equal(res.status, 200, res.raw)
  assert.equal(res.body, 'ok')
  assert.equal(res.headers['x-upstream'], 'yes')
  assert.equal(r.up.received.length, 1)
  const got = r.up.received[0]!
  const h = headersOf(got.rawHeaders)
  assert.deepEqual(h.get('authorization'), [`Bearer ${CREDENTIAL}`])
  assert.equal(got.url, '/v1/messages?x=1')
  assert.deepEqual(h.get('host'), [r.up.authority])
  assert.deepEqual(h.get('x-robot'), ['hello'])
  assert.equal(h.get('proxy-tokenizer'), undefined)
  assert.equal(h.get('proxy-authorization'), undefined)
  // Nothing the tokenizer logged holds the credential or the proxy token.
  assert.ok(r.logs.length > 0)
  for (const l of r.logs) assert.ok(!l.includes(CREDENTIAL) && !l.includes(PROXY_AUTH) && !l.includes(digest), l)
})

test('a secret sealed the way superfly/tokenizer seals (Go\'s JSON, a box laid out as nacl/box.SealAnonymous) opens and injects', async (t) => {
  const r = await rig(t)
  await sodium.ready
  // Exactly what Secret.Seal marshals: processor (embedded fmt/dst, omitempty), then auth, then host rules.
  const goJson = `{"inject_processor":{"token":"${CREDENTIAL}","fmt":"token=%s","dst":"X-Api-Key"},"bearer_auth":{"digest":"${digest}"},"allowed_hosts":["${r.up.authority}"]}`
  const pk = Buffer.from(r.tkz.sealKey, 'hex')
  const eph = sodium.crypto_box_keypair()
  const nonce = sodium.crypto_generichash(24, Buffer.concat([eph.publicKey, pk]), null)
  const sealed = Buffer.concat([eph.publicKey, sodium.crypto_box_easy(Buffer.from(goJson), nonce, pk, eph.privateKey)]).toString('base64')
  const res = await rawExchange(r.port, request(`http://${r.up.authority}/`, { 'Proxy-Tokenizer': sealed, 'Proxy-Authorization': `Basic ${Buffer.from(`x:${PROXY_AUTH}`).toString('base64')}` }))
  assert.equal(res.status, 200, res.raw)
  assert.deepEqual(headersOf(r.up.received[0]!.rawHeaders).get('x-api-key'), [`token=${CREDENTIAL}`])
})

test('params after the sealed secret choose dst and fmt within what the secret allows', async (t) => {
  const r = await rig(t)
  const sealed = await seal(JSON.stringify({ inject_processor: { token: CREDENTIAL, allowed_dst: ['X-Key', 'Authorization'], allowed_fmt: ['%s', 'Bearer %s'] }, no_auth: {} }), r.tkz.sealKey)
  const ok = await rawExchange(r.port, request(`http://${r.up.authority}/`, { 'Proxy-Tokenizer': `${sealed}; {"dst":"x-key","fmt":"%s"}` }))
  assert.equal(ok.status, 200, ok.raw)
  assert.deepEqual(headersOf(r.up.received[0]!.rawHeaders).get('x-key'), [CREDENTIAL])
  refused(await rawExchange(r.port, request(`http://${r.up.authority}/`, { 'Proxy-Tokenizer': `${sealed}; {"dst":"X-Other"}` })), 400, 'tokenizer_bad_request')
  refused(await rawExchange(r.port, request(`http://${r.up.authority}/`, { 'Proxy-Tokenizer': `${sealed}; {"dst":1}` })), 400, 'tokenizer_bad_request')
  refused(await rawExchange(r.port, request(`http://${r.up.authority}/`, { 'Proxy-Tokenizer': `${sealed}; not json` })), 400, 'tokenizer_bad_request')
  assert.equal(r.up.received.length, 1)
})

test('a host outside the allow-list is refused before anything is dialled (400 tokenizer_host_not_allowed)', async (t) => {
  const r = await rig(t)
  const sealed = await seal(JSON.stringify(secret({ allowed_hosts: ['api.example.com'] })), r.tkz.sealKey)
  const res = await rawExchange(r.port, request(`http://${r.up.authority}/`, { 'Proxy-Tokenizer': sealed, 'Proxy-Authorization': `Bearer ${PROXY_AUTH}` }))
  refused(res, 400, 'tokenizer_host_not_allowed')
  assert.match(JSON.parse(res.body).error, new RegExp(`may not be sent to ${r.up.authority}`))
  const pattern = await seal(JSON.stringify(secret({ allowed_host_pattern: '^api\\.example\\.com$' })), r.tkz.sealKey)
  refused(await rawExchange(r.port, request(`http://${r.up.authority}/`, { 'Proxy-Tokenizer': pattern, 'Proxy-Authorization': `Bearer ${PROXY_AUTH}` })), 400, 'tokenizer_host_not_allowed')
  assert.equal(r.up.received.length, 0)
})

test('a tampered or truncated seal is a 400 tokenizer_bad_seal; so is one sealed to another tokenizer', async (t) => {
  const r = await rig(t)
  const sealed = await seal(JSON.stringify(secret()), r.tkz.sealKey)
  const bytes = Buffer.from(sealed, 'base64')
  bytes[50] = bytes[50]! ^ 0x40
  const other = await createTokenizer({ openKey: randomBytes(32).toString('hex') })
  for (const bad of [bytes.toString('base64'), sealed.slice(0, 40), sealed.slice(0, -8), `${sealed}AAAA`, await seal(JSON.stringify(secret()), other.sealKey), '%%%']) {
    refused(await rawExchange(r.port, request(`http://${r.up.authority}/`, { 'Proxy-Tokenizer': bad, 'Proxy-Authorization': `Bearer ${PROXY_AUTH}` })), 400, 'tokenizer_bad_seal')
  }
  assert.equal(r.up.received.length, 0)
})

test('missing or wrong proxy auth is a 407 with Proxy-Authenticate; every secret of a request must be satisfied', async (t) => {
  const r = await rig(t)
  const sealed = await seal(JSON.stringify(secret()), r.tkz.sealKey)
  const target = `http://${r.up.authority}/`
  const none = await rawExchange(r.port, request(target, { 'Proxy-Tokenizer': sealed }))
  refused(none, 407, 'tokenizer_unauthorized')
  assert.match(none.headers['proxy-authenticate'] ?? '', /^Bearer/)
  refused(await rawExchange(r.port, request(target, { 'Proxy-Tokenizer': sealed, 'Proxy-Authorization': 'Bearer bogus' })), 407, 'tokenizer_unauthorized')
  const otherAuth = await seal(JSON.stringify({ ...secret(), bearer_auth: { digest: createHash('sha256').update('other').digest('base64') } }), r.tkz.sealKey)
  const both = `GET ${target} HTTP/1.1\r\nHost: ${r.up.authority}\r\nProxy-Tokenizer: ${sealed}\r\nProxy-Tokenizer: ${otherAuth}\r\nProxy-Authorization: Bearer ${PROXY_AUTH}\r\nConnection: close\r\n\r\n`
  refused(await rawExchange(r.port, both), 407, 'tokenizer_unauthorized')
  const flySrc = await seal(JSON.stringify({ inject_processor: { token: CREDENTIAL }, fly_src_auth: { allowed_apps: ['x'] } }), r.tkz.sealKey)
  const fs = await rawExchange(r.port, request(target, { 'Proxy-Tokenizer': flySrc }))
  refused(fs, 407, 'tokenizer_unauthorized')
  assert.match(JSON.parse(fs.body).error, /fly_src_auth/)
  assert.equal(r.up.received.length, 0)
})

test('an oversized request head is refused with 431 and nothing is forwarded', async (t) => {
  const r = await rig(t)
  const sealed = await seal(JSON.stringify(secret()), r.tkz.sealKey)
  const res = await rawExchange(r.port, request(`http://${r.up.authority}/`, { 'Proxy-Tokenizer': sealed, 'Proxy-Authorization': `Bearer ${PROXY_AUTH}`, 'X-Pad': 'a'.repeat(20_000) }))
  refused(res, 431, 'tokenizer_header_too_large')
  assert.equal(r.up.received.length, 0)
})

test('a plaintext upstream gets a TLS ClientHello, never the request: 502, and not one byte of the credential', async (t) => {
  const r = await rig(t)
  const sealed = await seal(JSON.stringify({ inject_processor: { token: CREDENTIAL }, no_auth: {} }), r.tkz.sealKey)
  const res = await rawExchange(r.port, request(`http://127.0.0.1:${r.up.plainPort}/`, { 'Proxy-Tokenizer': sealed }))
  refused(res, 502, 'tokenizer_upstream_failed')
  assert.match(JSON.parse(res.body).error, /TLS/)
  const seen = r.up.plainBytes()
  assert.equal(seen[0], 0x16, 'a TLS handshake record')
  assert.ok(!seen.includes(CREDENTIAL) && !seen.toString('latin1').includes('GET /'))
})

test('an upstream whose certificate the tokenizer does not trust is a 502 (verification is never off)', async (t) => {
  const r = await rig(t, { ca: [] })
  const sealed = await seal(JSON.stringify({ inject_processor: { token: CREDENTIAL }, no_auth: {} }), r.tkz.sealKey)
  refused(await rawExchange(r.port, request(`http://${r.up.authority}/`, { 'Proxy-Tokenizer': sealed })), 502, 'tokenizer_upstream_failed')
  assert.equal(r.up.received.length, 0)
})

test('without the operator allowing it, loopback (and any non-public address) is not dialled: 403 tokenizer_target_refused', async (t) => {
  const r = await rig(t, { allowNets: [] })
  const sealed = await seal(JSON.stringify({ inject_processor: { token: CREDENTIAL }, no_auth: {} }), r.tkz.sealKey)
  for (const target of [`http://${r.up.authority}/`, `http://127.0.0.1:${r.up.port}/`, 'http://[::1]:8080/', 'http://169.254.7.7/']) {
    const res = await rawExchange(r.port, request(target, { 'Proxy-Tokenizer': sealed }))
    refused(res, 403, 'tokenizer_target_refused')
  }
  assert.equal(r.up.received.length, 0)
})

test('requests the tokenizer cannot inject into are refused: no secret, https://, port 443, a URL with credentials', async (t) => {
  const r = await rig(t)
  const sealed = await seal(JSON.stringify({ inject_processor: { token: CREDENTIAL }, no_auth: {} }), r.tkz.sealKey)
  refused(await rawExchange(r.port, request(`http://${r.up.authority}/`, {})), 400, 'tokenizer_bad_request')
  refused(await rawExchange(r.port, `GET https://${r.up.authority}/ HTTP/1.1\r\nHost: ${r.up.authority}\r\nProxy-Tokenizer: ${sealed}\r\nConnection: close\r\n\r\n`), 400, 'tokenizer_bad_request')
  refused(await rawExchange(r.port, request('http://localhost:443/', { 'Proxy-Tokenizer': sealed })), 400, 'tokenizer_bad_request')
  refused(await rawExchange(r.port, request(`http://u:p@${r.up.authority}/`, { 'Proxy-Tokenizer': sealed })), 400, 'tokenizer_bad_request')
  const connect443 = await connectTunnel(r.port, `CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\nProxy-Tokenizer: ${sealed}\r\n\r\n`)
  assert.equal(connect443.status, 400)
  connect443.socket.destroy()
  assert.equal(r.up.received.length, 0)
})

test('bodies: streamed through untouched, or read whole when a processor signs it or fills a placeholder', async (t) => {
  const r = await rig(t)
  const plain = await seal(JSON.stringify({ inject_processor: { token: CREDENTIAL }, no_auth: {} }), r.tkz.sealKey)
  const big = 'x'.repeat(300_000)
  const res = await rawExchange(r.port, request(`http://${r.up.authority}/upload`, { 'Proxy-Tokenizer': plain }, { method: 'POST', body: big }))
  assert.equal(res.status, 200, res.raw.slice(0, 300))
  assert.equal(r.up.received[0]!.body.length, big.length)
  const key = Buffer.from('webhook-signing-key')
  const multi = await seal(JSON.stringify({
    multi_processor: [{ inject_body_processor: { token: CREDENTIAL } }, { inject_hmac_processor: { key: key.toString('base64'), hash: 'sha256', dst: 'X-Signature', fmt: 'sha256=%x' } }],
    no_auth: {},
  }), r.tkz.sealKey)
  const body = '{"api_key":"{{ACCESS_TOKEN}}","n":1}'
  const signed = await rawExchange(r.port, request(`http://${r.up.authority}/hook`, { 'Proxy-Tokenizer': multi, 'Content-Type': 'application/json' }, { method: 'POST', body }))
  assert.equal(signed.status, 200, signed.raw)
  const got = r.up.received[1]!
  assert.equal(got.body, `{"api_key":"${CREDENTIAL}","n":1}`)
  const { createHmac } = await import('node:crypto')
  assert.deepEqual(headersOf(got.rawHeaders).get('x-signature'), [`sha256=${createHmac('sha256', key).update(got.body).digest('hex')}`])
  assert.deepEqual(headersOf(got.rawHeaders).get('content-length'), [String(Buffer.byteLength(got.body))])
})

test('a CONNECT tunnel to a port other than 443 carries plain HTTP: its secrets apply to each request inside, which must stay on its host', async (t) => {
  const r = await rig(t)
  const sealed = await seal(JSON.stringify(secret({ allowed_hosts: [r.up.authority] })), r.tkz.sealKey)
  const tunnel = await connectTunnel(r.port, `CONNECT ${r.up.authority} HTTP/1.1\r\nHost: ${r.up.authority}\r\nProxy-Tokenizer: ${sealed}\r\nProxy-Authorization: Bearer ${PROXY_AUTH}\r\n\r\n`)
  assert.equal(tunnel.status, 200, tunnel.raw)
  const res = await rawExchange(0, `POST /foo HTTP/1.1\r\nHost: ${r.up.authority}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`, { socket: tunnel.socket })
  assert.equal(res.status, 200, res.raw)
  assert.deepEqual(headersOf(r.up.received[0]!.rawHeaders).get('authorization'), [`Bearer ${CREDENTIAL}`])
  const again = await connectTunnel(r.port, `CONNECT ${r.up.authority} HTTP/1.1\r\nHost: ${r.up.authority}\r\nProxy-Tokenizer: ${sealed}\r\nProxy-Authorization: Bearer ${PROXY_AUTH}\r\n\r\n`)
  refused(await rawExchange(0, `GET / HTTP/1.1\r\nHost: elsewhere.example\r\nConnection: close\r\n\r\n`, { socket: again.socket }), 400, 'tokenizer_host_not_allowed')
  const unauth = await connectTunnel(r.port, `CONNECT ${r.up.authority} HTTP/1.1\r\nHost: ${r.up.authority}\r\nProxy-Tokenizer: ${sealed}\r\n\r\n`)
  assert.equal(unauth.status, 407)
  unauth.socket.destroy()
  assert.equal(r.up.received.length, 1)
})

test('a keep-alive client sends many requests on one connection, each injected', async (t) => {
  const r = await rig(t)
  const sealed = await seal(JSON.stringify(secret()), r.tkz.sealKey)
  const { request: httpRequest, Agent } = await import('node:http')
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  t.after(() => agent.destroy())
  for (let i = 0; i < 5; i++) {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ agent, host: '127.0.0.1', port: r.port, path: `http://${r.up.authority}/n/${i}`, headers: { host: r.up.authority, 'proxy-tokenizer': sealed, 'proxy-authorization': `Bearer ${PROXY_AUTH}` } }, (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      })
      req.on('error', reject)
      req.end()
    })
    assert.equal(status, 200)
  }
  assert.deepEqual(r.up.received.map((x) => x.url), ['/n/0', '/n/1', '/n/2', '/n/3', '/n/4'])
  assert.ok(r.up.received.every((x) => headersOf(x.rawHeaders).get('authorization')?.[0] === `Bearer ${CREDENTIAL}`))
})

test('the sender\'s own egress policy bounds the tokenizer: a name refused, an address refused, and no pooled connection is reused across policies', async (t) => {
  const policies: Record<string, ReturnType<NonNullable<TokenizerOptions['egress']>>> = {}
  let current = 'open'
  const r = await rig(t, { egress: () => policies[current] ?? null })
  policies.open = { key: 'open', address: () => null }
  policies.closed = { key: 'closed', address: (ip) => `policy denies ${ip}` }
  policies.byName = { refused: 'the app\'s egress policy denies localhost' }
  const sealed = await seal(JSON.stringify({ inject_processor: { token: CREDENTIAL }, no_auth: {} }), r.tkz.sealKey)
  const get = (): Promise<RawResponse> => rawExchange(r.port, request(`http://${r.up.authority}/`, { 'Proxy-Tokenizer': sealed }))
  assert.equal((await get()).status, 200)
  current = 'closed'
  // A kept-alive connection to the same host exists now, dialled under the other policy: it must not carry this request.
  const closed = await get()
  refused(closed, 403, 'tokenizer_target_refused')
  assert.match(JSON.parse(closed.body).error, /policy denies 127\.0\.0\.1/)
  current = 'byName'
  refused(await get(), 403, 'tokenizer_target_refused')
  current = 'open'
  assert.equal((await get()).status, 200)
  assert.equal(r.up.received.length, 2)
})
