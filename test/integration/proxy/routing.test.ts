/**
 * The proxy routes <app>.localhost to the app's machine, adds Fly's headers,
 * answers honestly when it can't, and lets Node's parser refuse smuggling and
 * oversized heads.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { daemonWithBusybox } from '../../support/machines.ts'
import { httpServices, viaProxy, webMachine } from './support.ts'

/** Raw bytes to the proxy; resolves with everything it answered before closing (or 3 s). */
function raw(proxyUrl: string, bytes: string): Promise<string> {
  const u = new URL(proxyUrl)
  return new Promise((resolve, reject) => {
    let out = ''
    const s = connect({ host: u.hostname, port: Number(u.port) }, () => s.write(bytes))
    s.setEncoding('utf8')
    s.on('data', (c: string) => (out += c))
    s.on('close', () => resolve(out))
    s.on('error', reject)
    s.setTimeout(3000, () => s.end())
  })
}

test('the proxy serves an app from its machine with Fly headers, and says why when it cannot', async (t) => {
  const d = await daemonWithBusybox(t)
  const env = 'echo "Content-Type: text/plain"; echo; env | grep -E "^HTTP_(VIA|FLY_|X_FORWARDED)" | sort'
  const echo = 'echo "Content-Type: text/plain"; echo; head -c "$CONTENT_LENGTH"'
  const m = await webMachine(d, { services: httpServices(), cgi: { env, echo } })

  await t.test('a started machine answers through <app>.localhost, with Via and Fly-Request-Id', async () => {
    const res = await viaProxy(d, d.app)
    assert.equal(res.status, 200)
    assert.equal(res.body, 'hello from hangar\n')
    assert.match(String(res.headers['fly-request-id']), /^[0-9A-HJKMNP-TV-Z]{26}-local$/)
    assert.match(String(res.headers.via), /1\.1 hangar/)
    assert.equal((await viaProxy(d, d.app, '/id')).body.trim(), m.id)
  })

  await t.test('the machine sees X-Forwarded-*, Fly-Client-IP, Via and the same request id; forged ones are replaced', async () => {
    const res = await viaProxy(d, d.app, '/cgi-bin/env', { headers: { 'fly-client-ip': '6.6.6.6', 'fly-replay-src': 'instance=forged' } })
    assert.equal(res.status, 200)
    const seen = Object.fromEntries(res.body.trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)))
    assert.equal(seen.HTTP_FLY_CLIENT_IP, '127.0.0.1')
    assert.equal(seen.HTTP_X_FORWARDED_FOR, '127.0.0.1')
    assert.equal(seen.HTTP_X_FORWARDED_PROTO, 'http')
    assert.equal(seen.HTTP_X_FORWARDED_HOST, `${d.app}.localhost`)
    assert.equal(seen.HTTP_X_FORWARDED_PORT, new URL(d.proxyUrl).port)
    assert.equal(seen.HTTP_FLY_FORWARDED_PORT, new URL(d.proxyUrl).port)
    assert.equal(seen.HTTP_VIA, '1.1 hangar')
    assert.equal(seen.HTTP_FLY_REQUEST_ID, res.headers['fly-request-id'])
    assert.equal(seen.HTTP_FLY_REPLAY_SRC, undefined)
  })

  await t.test('a request body reaches the machine whole', async () => {
    const body = 'x'.repeat(300_000) + 'end'
    const res = await viaProxy(d, d.app, '/cgi-bin/echo', { method: 'POST', body })
    assert.equal(res.status, 200)
    assert.equal(res.body.length, body.length)
    assert.ok(res.body.endsWith('end'))
  })

  await t.test('an unknown host is a 404 naming it; an unknown app too', async () => {
    const a = await viaProxy(d, d.app, '/', { host: 'example.com' })
    assert.equal(a.status, 404)
    assert.match(a.body, /no app at host "example\.com"/)
    assert.match(a.body, /request id: /)
    const b = await viaProxy(d, 'nosuchapp')
    assert.equal(b.status, 404)
    assert.match(b.body, /no app named nosuchapp/)
  })

  await t.test('an app with no machines is a 503 saying so', async () => {
    await d.client.apps.create('empty')
    const res = await viaProxy(d, 'empty')
    assert.equal(res.status, 503)
    assert.match(res.body, /app empty has no machines/)
    assert.ok(res.headers['fly-request-id'])
  })

  await t.test('without services the proxy uses port 8080 and never autostarts', async () => {
    await d.client.apps.create('plain')
    const p = await webMachine(d, { app: 'plain' })
    assert.equal((await viaProxy(d, 'plain', '/id')).body.trim(), p.id)
    await d.client.machines.stop('plain', p.id)
    await d.client.machines.wait('plain', p.id, { state: ['stopped'] })
    const res = await viaProxy(d, 'plain')
    assert.equal(res.status, 503)
    assert.match(res.body, /autostart is off/)
  })

  await t.test('Content-Length with Transfer-Encoding (request smuggling) is a 400 from the proxy', async () => {
    const out = await raw(d.proxyUrl, `POST / HTTP/1.1\r\nHost: ${d.app}.localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /id HTTP/1.1\r\nHost: ${d.app}.localhost\r\n\r\n`)
    assert.match(out, /^HTTP\/1\.1 400 /)
    assert.doesNotMatch(out, new RegExp(m.id), 'the smuggled request never reached the machine')
  })

  await t.test('oversized request headers are a 431', async () => {
    const out = await raw(d.proxyUrl, `GET / HTTP/1.1\r\nHost: ${d.app}.localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)
    assert.match(out, /^HTTP\/1\.1 431 /)
  })
})
