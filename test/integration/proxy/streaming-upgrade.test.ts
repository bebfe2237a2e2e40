/**
 * Long-lived traffic through the proxy: an event stream arrives as the
 * machine writes it (never buffered to the end), and an HTTP Upgrade becomes
 * a two-way byte pipe to the machine (a raw `nc` responder stands in for a
 * WebSocket server: busybox has no WebSocket, and the proxy never looks inside).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { Socket } from 'node:net'
import { daemonWithBusybox } from '../../support/machines.ts'
import { httpServices, webMachine } from './support.ts'

const stream = 'echo "Content-Type: text/event-stream"; echo; for i in 1 2 3 4; do echo "data: $i"; echo; sleep 0.4; done'
// Answers any request with 101, then echoes bytes back until the client hangs up.
const upgrade = `while read -r line; do [ \${#line} -le 1 ] && break; done
printf 'HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: echo\\r\\nConnection: Upgrade\\r\\n\\r\\n'
exec cat`

function send(proxyUrl: string, host: string, path: string, headers: Record<string, string> = {}): http.ClientRequest {
  const u = new URL(proxyUrl)
  return http.request({ host: u.hostname, port: u.port, path, agent: false, setHost: false, headers: { host, ...headers } })
}

test('event streams arrive incrementally and Upgrade connections pass through', async (t) => {
  const d = await daemonWithBusybox(t)
  await webMachine(d, { services: httpServices(), cgi: { stream } })

  await t.test('a streamed response reaches the client chunk by chunk', async () => {
    const t0 = performance.now()
    const chunks: { at: number; text: string }[] = []
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => send(d.proxyUrl, `${d.app}.localhost`, '/cgi-bin/stream').on('response', resolve).on('error', reject).end())
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['content-type'], 'text/event-stream')
    res.setEncoding('utf8')
    for await (const c of res) chunks.push({ at: performance.now() - t0, text: c as string })
    const first = chunks[0]!
    const end = chunks[chunks.length - 1]!.at
    assert.match(first.text, /^data: 1\n/)
    assert.ok(end - first.at > 800, `first event at ${first.at.toFixed(0)} ms, stream ended at ${end.toFixed(0)} ms`)
    assert.equal(chunks.map((c) => c.text).join(''), 'data: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n')
  })

  await t.test('an Upgrade is answered by the machine with 101 and then carries bytes both ways', async () => {
    await d.client.apps.create('wsapp')
    await webMachine(d, { app: 'wsapp', services: httpServices(), exec: ['nc', '-ll', '-p', '8080', '-e', '/www/cgi-bin/upgrade'], cgi: { upgrade } })
    const { res, socket } = await new Promise<{ res: http.IncomingMessage; socket: Socket }>((resolve, reject) => {
      const req = send(d.proxyUrl, 'wsapp.localhost', '/chat', { connection: 'Upgrade', upgrade: 'echo' })
      req.on('upgrade', (res, socket) => resolve({ res, socket }))
      req.on('response', (res) => reject(new Error(`expected 101, got ${res.statusCode}`)))
      req.on('error', reject)
      req.end()
    })
    t.after(() => socket.destroy())
    assert.equal(res.statusCode, 101)
    assert.equal(res.headers.upgrade, 'echo')
    assert.match(String(res.headers.via), /1\.1 hangar/)
    assert.ok(res.headers['fly-request-id'])
    socket.setEncoding('utf8')
    for (const word of ['ping', 'pong and more']) {
      const back = new Promise<string>((resolve) => socket.once('data', resolve))
      socket.write(`${word}\n`)
      assert.equal(await back, `${word}\n`)
    }
  })

  await t.test('a machine that declines the Upgrade answers normally', async () => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = send(d.proxyUrl, `${d.app}.localhost`, '/', { connection: 'Upgrade', upgrade: 'websocket' })
      req.on('upgrade', () => reject(new Error('busybox httpd does not upgrade')))
      req.on('response', resolve)
      req.on('error', reject)
      req.end()
    })
    assert.equal(res.statusCode, 200)
    let body = ''
    for await (const c of res) body += c
    assert.equal(body, 'hello from hangar\n')
  })
})
