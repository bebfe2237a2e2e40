import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { daemonWithBusybox, httpGet } from '../../support/machines.ts'

test('a machine serves HTTP, keeps its files across stop/start, runs exec, and leaves nothing when destroyed', async (t) => {
  const d = await daemonWithBusybox(t)
  const hm = d.client.machines
  const m = await hm.create(d.app, { name: 'web', config: { image: d.image, guest: { cpus: 1, memory_mb: 128 } } })
  assert.equal(m.state, 'started')
  assert.match(m.private_ip ?? '', /^10\.210\./)
  assert.deepEqual(m.events.map((e) => e.type).reverse(), ['launch', 'start'])

  const page = await httpGet(`http://${m.private_ip}:8080/`)
  assert.equal(page.status, 200)
  assert.equal(page.body, 'hello from hangar\n')

  const write = await hm.exec(d.app, m.id, { command: ['sh', '-c', 'echo kept > /data.txt && hostname && echo $FLY_PRIVATE_IP $FLY_MACHINE_ID'] })
  assert.equal(write.exit_code, 0)
  assert.equal(write.stdout, `${m.id}\n${m.private_ip} ${m.id}\n`, 'hostname is the machine id; the machine knows its address')
  const fail = await hm.exec(d.app, m.id, { cmd: 'echo oops >&2; exit 4' })
  assert.deepEqual([fail.exit_code, fail.stderr], [4, 'oops\n'])

  await hm.stop(d.app, m.id)
  assert.equal((await hm.get(d.app, m.id)).state, 'stopped')
  await assert.rejects(hm.exec(d.app, m.id, { command: ['true'] }), (e: Error & { code?: string }) => e.code === 'invalid_state')
  await hm.start(d.app, m.id)
  const read = await hm.exec(d.app, m.id, { command: ['cat', '/data.txt'] })
  assert.equal(read.stdout, 'kept\n')
  assert.equal((await httpGet(`http://${m.private_ip}:8080/`)).status, 200)

  const types = (await hm.events(d.app, m.id)).map((e) => e.type)
  assert.deepEqual(types.slice(0, 4), ['start', 'exit', 'stop', 'start'])

  await hm.destroy(d.app, m.id, { force: true })
  assert.equal((await hm.get(d.app, m.id)).state, 'destroyed')
  assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(m.id), 'no mount left')
  assert.ok(!execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(m.id), 'no netns left')
  assert.ok(!execFileSync('iptables-save', { encoding: 'utf8' }).includes(m.id), 'no iptables rule left')
  await assert.rejects(hm.start(d.app, m.id), (e: Error & { code?: string }) => e.code === 'machine_not_found' && /destroyed/.test(e.message))
})

test('stop honours the grace period, then kills', async (t) => {
  const d = await daemonWithBusybox(t)
  const hm = d.client.machines
  const m = await hm.create(d.app, { config: { image: d.image, init: { exec: ['sh', '-c', "trap '' TERM; while true; do sleep 0.1; done"] }, restart: { policy: 'no' } } })
  const t0 = Date.now()
  await hm.stop(d.app, m.id, { timeout: '1s' })
  const took = Date.now() - t0
  assert.ok(took >= 1000, `stop returned after ${took} ms, before the 1s grace period`)
  const exit = (await hm.events(d.app, m.id)).find((e) => e.type === 'exit')
  assert.equal((exit?.request as { exit_event: { exit_code: number } }).exit_event.exit_code, 137)
})

test('wait long-polls for a state; an exit is recorded with its code', async (t) => {
  const d = await daemonWithBusybox(t)
  const hm = d.client.machines
  const m = await hm.create(d.app, { config: { image: d.image, init: { exec: ['sh', '-c', 'sleep 0.3; exit 3'] }, restart: { policy: 'no' } } })
  const r = await hm.wait(d.app, m.id, { state: ['stopped'], timeout: 10 })
  assert.equal(r.state, 'stopped')
  const exit = (await hm.events(d.app, m.id)).find((e) => e.type === 'exit')
  assert.equal((exit?.request as { exit_event: { exit_code: number; requested_stop: boolean } }).exit_event.exit_code, 3)
  await assert.rejects(hm.wait(d.app, m.id, { state: ['started'], timeout: 1 }), (e: Error & { code?: string }) => e.code === 'wait_timeout' && /currently stopped/.test(e.message))
})

test('the on-failure restart policy brings a crashing machine back, up to max_retries', async (t) => {
  const d = await daemonWithBusybox(t)
  const hm = d.client.machines
  const m = await hm.create(d.app, { config: { image: d.image, init: { exec: ['sh', '-c', 'exit 1'] }, restart: { policy: 'on-failure', max_retries: 2 } } })
  for (let i = 0; i < 100; i++) {
    const cur = await hm.get(d.app, m.id)
    if (cur.restart_count === 2 && cur.state === 'stopped') break
    await new Promise((r) => setTimeout(r, 100))
  }
  const events = await hm.events(d.app, m.id, 50)
  assert.equal(events.filter((e) => e.type === 'restart').length, 2)
  assert.equal(events.filter((e) => e.type === 'exit').length, 3)
  assert.equal((await hm.get(d.app, m.id)).state, 'stopped')
})

test('logs carry timestamps and follow over SSE', async (t) => {
  const d = await daemonWithBusybox(t)
  const hm = d.client.machines
  const m = await hm.create(d.app, { config: { image: d.image, init: { exec: ['sh', '-c', 'i=0; while true; do echo line$i; i=$((i+1)); sleep 0.1; done'] } } })
  const ac = new AbortController()
  const seen: string[] = []
  try {
    for await (const l of hm.followLogs(d.app, m.id, { signal: ac.signal, tail: 0 })) {
      assert.match(l.timestamp, /^\d{4}-\d\d-\d\dT/)
      seen.push(l.message)
      if (seen.length === 3) ac.abort()
    }
  } catch (e) {
    if (!ac.signal.aborted) throw e
  }
  assert.equal(seen.length, 3)
  const tail = await hm.logs(d.app, m.id, { tail: 2 })
  assert.equal(tail.length, 2)
  assert.match(tail[0]!.message, /^line\d+$/)
})

test('stop_config picks the stop signal; the app sees it and its exit code is recorded', async (t) => {
  const d = await daemonWithBusybox(t)
  const hm = d.client.machines
  const m = await hm.create(d.app, {
    config: {
      image: d.image,
      init: { exec: ['sh', '-c', "trap 'exit 42' INT; trap '' TERM; touch /tmp/trapped; while true; do sleep 0.1; done"] },
      stop_config: { signal: 'SIGINT', timeout: '5s' },
      restart: { policy: 'no' },
    },
  })
  // A signal that lands before the shell has set its trap would kill it with the default action.
  for (let i = 0; i < 100 && (await hm.exec(d.app, m.id, { command: ['test', '-f', '/tmp/trapped'] })).exit_code !== 0; i++) await new Promise((r) => setTimeout(r, 50))
  const t0 = Date.now()
  await hm.stop(d.app, m.id)
  assert.ok(Date.now() - t0 < 4000, 'SIGINT was delivered, so no wait for the grace period')
  const exit = (await hm.events(d.app, m.id)).find((e) => e.type === 'exit')
  assert.equal((exit?.request as { exit_event: { exit_code: number } }).exit_event.exit_code, 42)
})

test('restart policy always brings back even a clean exit', async (t) => {
  const d = await daemonWithBusybox(t)
  const hm = d.client.machines
  const m = await hm.create(d.app, { config: { image: d.image, init: { exec: ['sh', '-c', 'sleep 0.2; exit 0'] }, restart: { policy: 'always' } } })
  for (let i = 0; i < 100 && (await hm.events(d.app, m.id, 50)).filter((e) => e.type === 'restart').length < 2; i++) await new Promise((r) => setTimeout(r, 100))
  assert.ok((await hm.events(d.app, m.id, 50)).filter((e) => e.type === 'restart').length >= 2)
  await hm.stop(d.app, m.id)
  await new Promise((r) => setTimeout(r, 500))
  assert.equal((await hm.get(d.app, m.id)).state, 'stopped', 'a user stop is not undone by the policy')
})
