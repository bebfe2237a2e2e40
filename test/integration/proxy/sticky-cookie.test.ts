/**
 * http_options.sticky_cookie: the proxy sets `hangar-instance=<machine id>` on
 * answers and sends requests carrying it to that machine, through autostop and
 * autostart. The daemon runs with a 1 s idle period.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { Socket } from 'node:net'
import { daemonWithBusybox } from '../../support/machines.ts'
import { httpServices, viaProxy, webMachine } from './support.ts'

process.env.HANGAR_AUTOSTOP_IDLE = '1s'

test('sticky_cookie pins a client to a machine across autostop and autostart', async (t) => {
  const d = await daemonWithBusybox(t)
  const hm = d.client.machines
  const services = httpServices({ autostop: 'stop', http_options: { sticky_cookie: true } })
  const a = await webMachine(d, { services })
  const b = await webMachine(d, { services })

  const first = await viaProxy(d, d.app, '/id')
  const owner = first.body.trim()
  assert.ok([a.id, b.id].includes(owner))
  const set = String(first.headers['set-cookie'])
  assert.equal(set, `hangar-instance=${owner}; Path=/; HttpOnly; SameSite=Lax`)
  const cookie = { cookie: `other=1; hangar-instance=${owner}` }
  for (let i = 0; i < 12; i++) assert.equal((await viaProxy(d, d.app, '/id', { headers: cookie })).body.trim(), owner)

  await hm.wait(d.app, owner, { state: ['stopped'], timeout: 15 })
  const woken = await viaProxy(d, d.app, '/id', { headers: cookie })
  assert.equal(woken.status, 200)
  assert.equal(woken.body.trim(), owner)
  assert.equal((await hm.get(d.app, owner)).state, 'started')

  // A cookie naming no machine of the app is ignored, and the answer sets a real one.
  const stale = await viaProxy(d, d.app, '/id', { headers: { cookie: 'hangar-instance=0123456789abcd' } })
  assert.equal(stale.status, 200)
  assert.equal(String(stale.headers['set-cookie']), `hangar-instance=${stale.body.trim()}; Path=/; HttpOnly; SameSite=Lax`)
})

test('sticky_cookie is set on 101 answers too, so a WebSocket client is pinned from its handshake', async (t) => {
  const d = await daemonWithBusybox(t)
  // Answers any request with 101, then echoes bytes back.
  const upgrade = `while read -r line; do [ \${#line} -le 1 ] && break; done
printf 'HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: echo\\r\\nConnection: Upgrade\\r\\n\\r\\n'
exec cat`
  const m = await webMachine(d, { services: httpServices({ http_options: { sticky_cookie: true } }), exec: ['nc', '-ll', '-p', '8080', '-e', '/www/cgi-bin/upgrade'], cgi: { upgrade } })
  const u = new URL(d.proxyUrl)
  const { res, socket } = await new Promise<{ res: http.IncomingMessage; socket: Socket }>((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: '/ws', agent: false, setHost: false, headers: { host: `${d.app}.localhost`, connection: 'Upgrade', upgrade: 'echo' } })
    req.on('upgrade', (r, s) => resolve({ res: r, socket: s }))
    req.on('response', (r) => reject(new Error(`expected 101, got ${r.statusCode}`)))
    req.on('error', reject)
    req.end()
  })
  t.after(() => socket.destroy())
  assert.equal(res.statusCode, 101)
  assert.equal(String(res.headers['set-cookie']), `hangar-instance=${m.id}; Path=/; HttpOnly; SameSite=Lax`)
  assert.equal(res.headers.upgrade, 'echo')
})
