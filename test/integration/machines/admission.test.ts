import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { readdir } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { HangarError } from '../../../src/errors.ts'
import { daemonWithBusybox, refusedWith } from '../../support/machines.ts'

const hostMb = Math.floor(totalmem() / 2 ** 20)
/** --max-memory-share giving machines exactly `mb` MB on this host (the daemon floors share × MemTotal). */
const memoryShare = (mb: number): string => String((mb + 0.5) / hostMb)
/** --cpu-overcommit giving machines exactly `n` CPUs on this host. */
const cpuOvercommit = (n: number): string => String((n + 0.005) / cpus().length)

const refused = (p: Promise<unknown>): Promise<HangarError> => refusedWith(p, 'capacity_exceeded')

async function machineDirs(dataDir: string): Promise<string[]> {
  return (await readdir(join(dataDir, 'runtime', 'machines'))).sort()
}

async function until(what: string, ok: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await ok())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`)
    await sleep(100)
  }
}

test('running machines reserve memory and CPUs; starts past the limits are a clear 422 that leaves nothing behind', async (t: TestContext) => {
  const d = await daemonWithBusybox(t, 'roomapp', ['--max-memory-share', memoryShare(600), '--cpu-overcommit', cpuOvercommit(3)])
  const hm = d.client.machines
  const guest = (memory_mb: number, cpus = 1) => ({ image: d.image, guest: { memory_mb, cpus } })
  const a = await hm.create(d.app, { name: 'a', config: guest(256) })
  const b = await hm.create(d.app, { name: 'b', config: guest(256) })

  // A create over the limit: no row, no runtime directory.
  const dirs = await machineDirs(d.dataDir)
  const e = await refused(hm.create(d.app, { name: 'c', config: guest(256) }))
  assert.equal(e.status, 422)
  assert.match(e.message, /not enough memory .* asks for 256 MB, running machines reserve 512 MB, and the limit for machines is 600 MB \(.*--max-memory-share\)/)
  assert.match(e.hint, /stop or destroy machines.*smaller guest.*--max-memory-share/)
  assert.deepEqual((await hm.list(d.app, { includeDeleted: true })).map((m) => m.name).sort(), ['a', 'b'])
  assert.deepEqual(await machineDirs(d.dataDir), dirs)

  // A stopped machine costs nothing: it can be created, but its start needs room.
  const c = await hm.create(d.app, { name: 'c', config: guest(256), skip_launch: true })
  await refused(hm.start(d.app, c.id))
  assert.equal((await hm.get(d.app, c.id)).state, 'created')
  await hm.stop(d.app, a.id)
  await hm.start(d.app, c.id)

  // Growing a running machine past the limit is refused before it is touched.
  const before = await hm.get(d.app, b.id)
  await refused(hm.update(d.app, b.id, { config: guest(512) }))
  const after = await hm.get(d.app, b.id)
  assert.deepEqual([after.state, after.instance_id], ['started', before.instance_id])

  // CPUs: 3 for machines; b and c hold 2.
  const cpu = await refused(hm.create(d.app, { config: guest(64, 2) }))
  assert.match(cpu.message, /not enough CPUs .* asks for 2, running machines reserve 2, and the limit for machines is 3 \(.*--cpu-overcommit\)/)
  const small = await hm.create(d.app, { config: guest(64, 1) })
  await hm.destroy(d.app, small.id, { force: true })

  // Two creates racing for room for one: exactly one gets it.
  await hm.stop(d.app, b.id)
  const race = await Promise.allSettled([hm.create(d.app, { config: guest(256) }), hm.create(d.app, { config: guest(256) })])
  assert.deepEqual(race.map((r) => r.status).sort(), ['fulfilled', 'rejected'])
  const lost = race.find((r) => r.status === 'rejected') as PromiseRejectedResult
  assert.equal((lost.reason as HangarError).code, 'capacity_exceeded')
  const live = (await hm.list(d.app)).filter((m) => m.state === 'started')
  assert.equal(live.length, 2, 'c and the winner run')
})

test('a restart-policy restart waits for room instead of failing, and happens once there is room', async (t: TestContext) => {
  const d = await daemonWithBusybox(t, 'roomapp')
  let hm = d.client.machines
  const a = await hm.create(d.app, { name: 'a', config: { image: d.image, guest: { memory_mb: 256, cpus: 1 } } })
  const crashy = await hm.create(d.app, {
    name: 'crashy',
    config: { image: d.image, guest: { memory_mb: 256, cpus: 1 }, init: { exec: ['sh', '-c', 'sleep 4; exit 1'] }, restart: { policy: 'on-failure', max_retries: 5 } },
  })
  // The host shrinks under them (a daemon restarted with a lower limit): both stay up, but crashy's restart no longer fits.
  await d.shutdown()
  const saved = process.env.HANGAR_MAX_MEMORY_SHARE
  process.env.HANGAR_MAX_MEMORY_SHARE = memoryShare(300)
  t.after(() => {
    if (saved === undefined) delete process.env.HANGAR_MAX_MEMORY_SHARE
    else process.env.HANGAR_MAX_MEMORY_SHARE = saved
  })
  await d.restart()
  hm = d.client.machines
  await until('crashy exits and its restart is refused for room', async () => {
    const events = await hm.events(d.app, crashy.id, 10)
    return events.some((e) => e.type === 'restart' && e.request?.code === 'capacity_exceeded' && e.request.restarting === true)
  })
  const waiting = await hm.get(d.app, crashy.id)
  assert.equal(waiting.state, 'stopped')
  assert.equal(waiting.restart_count, 0, 'waiting for room spends none of its retries')
  assert.equal((await hm.get(d.app, a.id)).state, 'started')

  await hm.stop(d.app, a.id)
  await until('crashy is restarted once a has made room', async () => (await hm.events(d.app, crashy.id, 10)).some((e) => e.type === 'restart' && e.status === 'started'))
  assert.doesNotMatch(d.log(), /unhandled promise rejection/)
})
