/**
 * kill -9 of the daemon in the middle of checkpoint, restore and fork, at
 * several moments each: after the restart every machine settles into a state
 * the API can take it out of, none stays frozen, the checkpoints the store
 * lists are exactly the frozen disks on the host, and their content is right.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { daemonWithBusybox } from '../../support/machines.ts'

const sleeper = { image: 'busybox:latest', init: { exec: ['sleep', '100000'] } }
const settled = ['created', 'started', 'stopped', 'suspended', 'failed']
/** Moments after the request is sent at which the daemon dies (ms). */
const moments = [0, 15, 40, 90]

test('kill -9 during checkpoint, restore and fork leaves every machine usable and no checkpoint torn', { timeout: 300_000 }, async (t) => {
  const d = await daemonWithBusybox(t, 'crashapp')
  const app = d.app
  const hm = () => d.client.machines
  const sh = async (id: string, cmd: string): Promise<string> => {
    const r = await hm().exec(app, id, { command: ['sh', '-c', cmd], timeout: 10 })
    assert.equal(r.exit_code, 0, `${cmd}: ${r.stderr}`)
    return r.stdout
  }
  const m = await hm().create(app, { config: sleeper })
  await hm().wait(app, m.id, { state: ['started'] })
  await sh(m.id, 'echo base > /state.txt')
  const base = await hm().checkpoint(app, m.id, { comment: 'base' })

  /** After a crash and a restart: the machine settles, runs (not frozen) once started, and records match the disks. */
  async function usable(what: string): Promise<void> {
    const w = await hm().wait(app, m.id, { state: ['settled'], timeout: 60 })
    assert.ok(settled.includes(w.state), `${what}: settled in ${w.state}`)
    if ((await hm().get(app, m.id)).state !== 'started') await hm().start(app, m.id)
    await hm().wait(app, m.id, { state: ['started'] })
    assert.match(await sh(m.id, 'cat /state.txt'), /^(base|changed)\n$/, `${what}: the disk is one of the two states, whole`)
    const onDisk = readdirSync(join(d.dataDir, 'runtime', 'disks', 'checkpoints')).sort()
    const recorded = (await hm().checkpoints(app, m.id)).map((c) => `${m.id}-${c.id}`).sort()
    assert.deepEqual(onDisk, recorded, `${what}: frozen disks on the host are exactly the recorded checkpoints`)
    for (const x of await hm().list(app)) {
      if (x.id === m.id) continue
      // A fork made before the crash is a whole machine: it starts and holds the base disk.
      if (x.state !== 'started') await hm().start(app, x.id)
      await hm().wait(app, x.id, { state: ['started'] })
      assert.equal(await sh(x.id, 'cat /state.txt'), 'base\n', `${what}: fork ${x.id} holds the checkpoint's disk`)
      await hm().destroy(app, x.id, { force: true })
    }
  }

  async function crashDuring(what: string, call: () => Promise<unknown>, delay: number): Promise<void> {
    await sh(m.id, 'echo changed > /state.txt')
    const pending = call().catch(() => {})
    await sleep(delay)
    await d.crash()
    await pending
    await d.restart()
    await usable(`${what} killed at ${delay} ms`)
  }

  for (const delay of moments) {
    await t.test(`checkpoint of a running machine, killed at ${delay} ms`, () => crashDuring('checkpoint', () => hm().checkpoint(app, m.id), delay))
    await t.test(`restore of a running machine, killed at ${delay} ms`, () => crashDuring('restore', () => hm().restore(app, m.id, base.id), delay))
    await t.test(`fork of a checkpoint, killed at ${delay} ms`, () => crashDuring('fork', () => hm().fork(app, m.id, { checkpoint: base.id, count: 2 }), delay))
  }

  await t.test('a machine a capture left paused (the daemon died between pause and resume) is thawed at the next start', async () => {
    const runtime = join(d.dataDir, 'runtime')
    await d.crash()
    writeFileSync(join(runtime, 'machines', m.id, 'capturing'), 'interrupted')
    execFileSync('runc', ['--root', join(runtime, 'runc'), 'pause', m.id])
    assert.match(execFileSync('runc', ['--root', join(runtime, 'runc'), 'state', m.id], { encoding: 'utf8' }), /"status": "paused"/)
    await d.restart()
    assert.equal((await hm().get(app, m.id)).state, 'started')
    assert.match(await sh(m.id, 'cat /state.txt'), /^(base|changed)\n$/, 'it runs: exec answers')
  })

  await t.test('after all that, a restore still brings the base back', async () => {
    await sh(m.id, 'echo changed > /state.txt')
    await hm().restore(app, m.id, base.id)
    assert.equal(await sh(m.id, 'cat /state.txt'), 'base\n')
  })
})
