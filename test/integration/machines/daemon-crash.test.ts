import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { daemonWithBusybox, httpGet } from '../../support/machines.ts'

test('kill -9 of the daemon: machines keep running, exits while down are recorded, restart policy applied', async (t) => {
  const d = await daemonWithBusybox(t)
  const hm = d.client.machines
  const loop = await hm.create(d.app, { name: 'loop', config: { image: d.image, init: { exec: ['sh', '-c', 'i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done'] } } })
  const quitter = await hm.create(d.app, { name: 'quitter', config: { image: d.image, init: { exec: ['sh', '-c', 'sleep 1.5; exit 7'] }, restart: { policy: 'no' } } })
  const crasher = await hm.create(d.app, { name: 'crasher', config: { image: d.image, init: { exec: ['sh', '-c', 'if [ -e /crashed ]; then sleep 1000; fi; touch /crashed; sleep 1.5; exit 3'] }, restart: { policy: 'on-failure', max_retries: 3 } } })

  await d.crash()
  await sleep(2500)
  await d.restart()
  const hm2 = d.client.machines

  const l = await hm2.get(d.app, loop.id)
  assert.equal(l.state, 'started', 'the looping machine was adopted')
  const before = (await hm2.logs(d.app, loop.id, { tail: 1 }))[0]!.message
  await sleep(500)
  const after = (await hm2.logs(d.app, loop.id, { tail: 1 }))[0]!.message
  assert.notEqual(before, after, 'its logs continue')

  const q = await hm2.get(d.app, quitter.id)
  assert.equal(q.state, 'stopped')
  const qExit = (await hm2.events(d.app, quitter.id)).find((e) => e.type === 'exit')
  assert.equal((qExit?.request as { exit_event: { exit_code: number } }).exit_event.exit_code, 7)

  await hm2.wait(d.app, crasher.id, { state: ['started'], timeout: 10 })
  const events = await hm2.events(d.app, crasher.id)
  const cExit = events.find((e) => e.type === 'exit')
  assert.equal((cExit?.request as { exit_event: { exit_code: number } }).exit_event.exit_code, 3)
  assert.ok(events.some((e) => e.type === 'restart'), 'on-failure restarted it after the daemon came back')

  // The adopted machine is fully controllable.
  await hm2.stop(d.app, loop.id)
  assert.equal((await hm2.get(d.app, loop.id)).state, 'stopped')
})

test('a clean shutdown leaves machines running and serving; the next daemon adopts them', async (t) => {
  const d = await daemonWithBusybox(t)
  const m = await d.client.machines.create(d.app, { config: { image: d.image } })
  await d.shutdown()
  assert.equal((await httpGet(`http://${m.private_ip}:8080/`)).body, 'hello from hangar\n', 'still serving with no daemon')
  await d.restart()
  assert.equal((await d.client.machines.get(d.app, m.id)).state, 'started')
  const r = await d.client.machines.exec(d.app, m.id, { command: ['echo', 'adopted'] })
  assert.equal(r.stdout, 'adopted\n')
})
