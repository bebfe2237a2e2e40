/**
 * A request to an app whose machine is stopped starts it and is answered;
 * an idle machine is stopped again, but never below min_machines_running.
 * The daemon runs with a 1 s idle period (HANGAR_AUTOSTOP_IDLE, inherited).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { daemonWithBusybox } from '../../support/machines.ts'
import { httpServices, viaProxy, webMachine } from './support.ts'

process.env.HANGAR_AUTOSTOP_IDLE = '1s'

test('autostart wakes a stopped machine for a request; autostop puts it back to sleep', async (t) => {
  const d = await daemonWithBusybox(t)
  const hm = d.client.machines
  const state = async (app: string, id: string): Promise<string> => (await hm.get(app, id)).state

  await t.test('a request to a stopped machine starts it and gets its answer', async () => {
    const m = await webMachine(d, { services: httpServices({ autostart: true, autostop: false }) })
    await hm.stop(d.app, m.id)
    await hm.wait(d.app, m.id, { state: ['stopped'] })
    const res = await viaProxy(d, d.app, '/id')
    assert.equal(res.status, 200)
    assert.equal(res.body.trim(), m.id)
    assert.equal(await state(d.app, m.id), 'started')
    // The start is traceable to the request that woke it.
    const start = (await hm.events(d.app, m.id)).find((e) => e.type === 'start')
    assert.equal(start?.request?.request_id, res.headers['fly-request-id'])
    await hm.destroy(d.app, m.id, { force: true })
  })

  await t.test('with autostart false a stopped machine stays stopped and the request is a 503', async () => {
    const m = await webMachine(d, { services: httpServices({ autostart: false }) })
    await hm.stop(d.app, m.id)
    await hm.wait(d.app, m.id, { state: ['stopped'] })
    const res = await viaProxy(d, d.app)
    assert.equal(res.status, 503)
    assert.match(res.body, /autostart is off/)
    assert.equal(await state(d.app, m.id), 'stopped')
    await hm.destroy(d.app, m.id, { force: true })
  })

  await t.test('an idle machine with autostop "stop" is stopped after the idle period, and woken again', async () => {
    const m = await webMachine(d, { services: httpServices({ autostop: 'stop' }) })
    assert.equal((await hm.get(d.app, m.id)).config.services instanceof Array, true)
    assert.equal((await viaProxy(d, d.app, '/id')).body.trim(), m.id)
    await hm.wait(d.app, m.id, { state: ['stopped'], timeout: 10 })
    const events = (await hm.get(d.app, m.id)).events.map((e) => e.type)
    assert.ok(events.includes('stop'), `a stop event: ${events.join(',')}`)
    assert.equal((await viaProxy(d, d.app, '/id')).body.trim(), m.id)
    assert.equal(await state(d.app, m.id), 'started')
    await hm.destroy(d.app, m.id, { force: true })
  })

  await t.test('a long request keeps its machine from being stopped', async () => {
    const m = await webMachine(d, { services: httpServices({ autostop: true }), cgi: { slow: 'echo "Content-Type: text/plain"; echo; sleep 2.5; echo done' } })
    const res = await viaProxy(d, d.app, '/cgi-bin/slow')
    assert.equal(res.status, 200)
    assert.equal(res.body, 'done\n')
    assert.equal(await state(d.app, m.id), 'started')
    await hm.destroy(d.app, m.id, { force: true })
  })

  await t.test('autostop never goes below min_machines_running', async () => {
    await d.client.apps.create('minapp')
    const services = httpServices({ autostop: 'stop', min_machines_running: 1 })
    const a = await webMachine(d, { app: 'minapp', services })
    const b = await webMachine(d, { app: 'minapp', services })
    const deadline = Date.now() + 10_000
    let states: string[] = []
    while (Date.now() < deadline) {
      states = [await state('minapp', a.id), await state('minapp', b.id)]
      if (states.includes('stopped')) break
      await sleep(100)
    }
    assert.deepEqual([...states].sort(), ['started', 'stopped'], 'one of the two idles out')
    await sleep(2500)
    assert.deepEqual([await state('minapp', a.id), await state('minapp', b.id)].sort(), ['started', 'stopped'], 'the last one keeps running')
  })
})
