/**
 * http_options.sticky_cookie: the proxy sets `hangar-instance=<machine id>` on
 * answers and sends requests carrying it to that machine, through autostop and
 * autostart. The daemon runs with a 1 s idle period.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
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
