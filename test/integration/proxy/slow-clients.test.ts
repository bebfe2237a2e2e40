/**
 * A client that sends its request head too slowly (slowloris) is cut off with
 * a 408 after --proxy-headers-timeout, on the plain and the TLS listener, while
 * other requests keep being served; h2 streams that trickle their bodies get
 * a 408 after --proxy-request-timeout.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as tcpConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import http2 from 'node:http2'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { daemonWithBusybox } from '../../support/machines.ts'
import { httpServices, viaProxy, webMachine } from './support.ts'

/** Sends a request head one byte every 150 ms, never finishing it; resolves with what the proxy answered and when it closed. */
function dribble(open: () => Socket): Promise<{ answer: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now()
    const s = open()
    let answer = ''
    let timer: NodeJS.Timeout | undefined
    const head = `GET /id HTTP/1.1\r\nHost: testapp.localhost\r\nX-Slow: ${'a'.repeat(200)}`
    let i = 0
    const drip = (): void => {
      if (i < head.length && !s.destroyed) s.write(head[i++] as string)
      timer = setTimeout(drip, 150)
    }
    s.once('secureConnect', drip)
    s.once('connect', () => {
      if (!('encrypted' in s)) drip()
    })
    s.setEncoding('utf8')
    s.on('data', (c: string) => (answer += c))
    s.on('error', () => s.destroy())
    s.on('close', () => {
      clearTimeout(timer)
      resolve({ answer, ms: Date.now() - t0 })
    })
    setTimeout(() => {
      s.destroy()
      reject(new Error(`still open after 8 s; got ${JSON.stringify(answer)}`))
    }, 8000).unref()
  })
}

test('slow request heads are cut off with a 408; other requests carry on', async (t) => {
  const d = await daemonWithBusybox(t, 'testapp', ['--proxy-headers-timeout', '1s'])
  const m = await webMachine(d, { services: httpServices() })
  const plain = new URL(d.proxyUrl)
  const secure = new URL(d.proxyHttpsUrl)
  const ca = readFileSync(join(d.dataDir, 'proxy/ca/ca.crt'))

  const slow = [
    dribble(() => tcpConnect({ host: plain.hostname, port: Number(plain.port) })),
    dribble(() => tlsConnect({ host: secure.hostname, port: Number(secure.port), servername: 'testapp.localhost', ca, ALPNProtocols: ['http/1.1'] })),
  ]
  // Meanwhile the app is served as usual.
  for (let i = 0; i < 5; i++) {
    const res = await viaProxy(d, d.app, '/id')
    assert.equal(res.status, 200)
    assert.equal(res.body.trim(), m.id)
    await new Promise((r) => setTimeout(r, 200))
  }
  for (const [name, p] of [['plain', slow[0]], ['tls', slow[1]]] as const) {
    const { answer, ms } = await (p as Promise<{ answer: string; ms: number }>)
    assert.match(answer, /^HTTP\/1\.1 408 /, `${name}: ${answer}`)
    assert.ok(ms >= 900 && ms < 4000, `${name}: cut off after ${ms} ms`)
  }
})

test('h2: a stream trickling its body gets a 408, a silent h2c connection is closed, streams per session are capped', async (t) => {
  const d = await daemonWithBusybox(t, 'testapp', ['--proxy-headers-timeout', '1s', '--proxy-request-timeout', '2s', '--proxy-h2c'])
  // Reads the whole body before answering, so only the proxy can answer first.
  const drain = 'head -c "$CONTENT_LENGTH" > /dev/null; echo "Content-Type: text/plain"; echo; echo drained'
  await webMachine(d, { services: httpServices(), cgi: { drain } })
  const secure = new URL(d.proxyHttpsUrl)
  const ca = readFileSync(join(d.dataDir, 'proxy/ca/ca.crt'))
  const session = http2.connect(`https://testapp.localhost:${secure.port}`, { ca, host: '127.0.0.1', servername: 'testapp.localhost', createConnection: () => tlsConnect({ host: '127.0.0.1', port: Number(secure.port), servername: 'testapp.localhost', ca, ALPNProtocols: ['h2'] }) })
  t.after(() => session.destroy())
  await new Promise((resolve, reject) => session.once('remoteSettings', resolve).once('error', reject))
  assert.equal(session.remoteSettings.maxConcurrentStreams, 128)

  const t0 = Date.now()
  const stream = session.request({ ':method': 'POST', ':path': '/cgi-bin/drain', 'content-length': '1000' })
  const drip = setInterval(() => stream.write('x'), 200)
  t.after(() => clearInterval(drip))
  const status = await new Promise<number>((resolve, reject) => stream.once('response', (h) => resolve(Number(h[':status']))).once('error', reject))
  let body = ''
  stream.setEncoding('utf8').on('data', (c: string) => (body += c))
  await new Promise((resolve) => stream.once('close', resolve))
  clearInterval(drip)
  assert.equal(status, 408, body)
  assert.match(body, /did not arrive within 2000 ms/)
  const ms = Date.now() - t0
  assert.ok(ms >= 1900 && ms < 5000, `answered after ${ms} ms`)

  // The session is still good for well-behaved streams.
  const ok = session.request({ ':method': 'POST', ':path': '/cgi-bin/drain', 'content-length': '5' })
  ok.end('hello')
  const okStatus = await new Promise<number>((resolve, reject) => ok.once('response', (h) => resolve(Number(h[':status']))).once('error', reject))
  ok.resume()
  assert.equal(okStatus, 200)

  // h2c shares the plain port: a connection that never sends a byte is closed after the head timeout.
  const plain = new URL(d.proxyUrl)
  const silent = tcpConnect({ host: plain.hostname, port: Number(plain.port) })
  const s0 = Date.now()
  await new Promise((resolve) => silent.once('close', resolve).on('error', () => {}))
  const silentMs = Date.now() - s0
  assert.ok(silentMs >= 900 && silentMs < 4000, `closed after ${silentMs} ms`)
})
