import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { HangarError } from '../../../src/errors.ts'
import { daemonWithBusybox, refusedWith } from '../../support/machines.ts'

/** A small ext4 on a loop device (no blocks reserved for root, who runs the daemon), mounted at `dir`. */
async function smallFilesystem(t: TestContext, mb: number): Promise<{ dir: string; fill(): void; unfill(): Promise<void> }> {
  const base = await mkdtemp(join(tmpdir(), 'hangar-disk-'))
  const image = join(base, 'fs.img')
  const dir = join(base, 'mnt')
  const filler = join(dir, 'filler')
  t.after(async () => {
    try {
      execFileSync('umount', [dir], { stdio: 'ignore' })
    } catch {
      // Something (a leftover mount of a failed test) still holds it: let the kernel finish when it can.
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' })
    }
    await rm(base, { recursive: true, force: true })
  })
  execFileSync('truncate', ['-s', `${mb}M`, image])
  execFileSync('mkfs.ext4', ['-q', '-m', '0', image])
  await mkdir(dir)
  execFileSync('mount', ['-o', 'loop', image, dir])
  return {
    dir,
    fill() {
      // fallocate stops at the first block it cannot have; dd then takes what is left, to the last block.
      for (const cmd of [['fallocate', '-l', `${mb}M`, filler], ['dd', 'if=/dev/zero', `of=${filler}2`, 'bs=4k']]) {
        try {
          execFileSync(cmd[0] as string, cmd.slice(1), { stdio: 'ignore' })
        } catch {
          /* ENOSPC: that is the point */
        }
      }
      assert.match(execFileSync('df', ['--output=avail', dir], { encoding: 'utf8' }), /\n\s*0\n/, 'the disk is full')
    },
    async unfill() {
      await rm(filler, { force: true })
      await rm(`${filler}2`, { force: true })
    },
  }
}

async function until(what: string, ok: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await ok())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`)
    await sleep(50)
  }
}

const diskFull = (p: Promise<unknown>): Promise<HangarError> => refusedWith(p, 'disk_full')

test('with the data disk full the daemon answers, refuses writes cleanly, keeps its restarts alive, and recovers by itself', async (t) => {
  const fs = await smallFilesystem(t, 96)
  // A subtest, so the daemon and its machines are gone before the filesystem is unmounted.
  await t.test('on the small disk', async (t) => {
    t.after(() => fs.unfill())
    // --min-free-disk 0: the floor would refuse first; this test is about real write failures.
    // The data dir is the small disk under test; machines' disks (a btrfs image of their own) stay off it.
    const d = await daemonWithBusybox(t, 'diskapp', ['--min-free-disk', '0', '--machines-fs', 'none'], { dataDir: join(fs.dir, 'data') })
    const hm = d.client.machines
    const steady = await hm.create(d.app, { name: 'steady', config: { image: d.image } })
    // Crashes at once, so its restarts back off: 100 ms, 200 ms, … 1.6 s after its fourth.
    const crashy = await hm.create(d.app, { name: 'crashy', config: { image: d.image, init: { exec: ['sh', '-c', 'exit 3'] }, restart: { policy: 'on-failure', max_retries: 20 } } })
    await until('crashy waits 1.6 s or more for its next restart', async () => {
      const m = await hm.get(d.app, crashy.id)
      return m.state === 'stopped' && m.restart_count >= 4
    })
    const filledAt = Date.now()
    fs.fill()
    const restartsBefore = (await hm.get(d.app, crashy.id)).restart_count
    // The state database is out of room too (its log cannot grow): every write fails from here on.
    await diskFull(hm.setMetadata(d.app, steady.id, { k: 'v' }))

    // The restart comes due on the full disk (at most 1.6 s after it filled): the daemon lives on, the restart is postponed.
    await sleep(3000)
    assert.doesNotThrow(() => process.kill(d.pid(), 0), `the daemon is alive:\n${d.log()}`)
    assert.deepEqual(await (await fetch(`${d.url}/healthz`)).json(), { ok: true })
    assert.match(d.log(), /restart postponed/)
    assert.equal((await hm.get(d.app, steady.id)).state, 'started')
    assert.equal((await hm.get(d.app, crashy.id)).state, 'stopped')
    assert.ok((await hm.events(d.app, crashy.id, 10)).length > 0)
    assert.equal((await d.client.apps.list()).apps.length, 1)

    // Writes fail with a clear 507 that says where to free space, and a failed create leaves nothing.
    const dirs = (await readdir(join(d.dataDir, 'runtime', 'machines'))).sort()
    const e = await diskFull(hm.create(d.app, { name: 'third', config: { image: d.image } }))
    assert.equal(e.status, 507)
    assert.match(e.hint, new RegExp(`free space on the filesystem holding ${d.dataDir}`))
    assert.deepEqual((await hm.list(d.app, { includeDeleted: true })).map((m) => m.name).sort(), ['crashy', 'steady'])
    assert.deepEqual((await readdir(join(d.dataDir, 'runtime', 'machines'))).sort(), dirs)

    // Space comes back: the postponed restart happens and creates work again, without a restart of the daemon.
    await fs.unfill()
    await until('crashy is restarted', async () => (await hm.get(d.app, crashy.id)).restart_count > restartsBefore)
    const third = await hm.create(d.app, { name: 'third', config: { image: d.image } })
    assert.equal(third.state, 'started')
    assert.doesNotMatch(d.log(), /unhandled promise rejection/)
    t.diagnostic(`restart postponed, then done ${Date.now() - filledAt} ms after the disk filled`)
  })
})

test('an exit that conmon could not write down on a full disk is read back from the runtime once there is room', async (t) => {
  const fs = await smallFilesystem(t, 96)
  await t.test('on the small disk', async (t) => {
    t.after(() => fs.unfill())
    const d = await daemonWithBusybox(t, 'diskapp', ['--min-free-disk', '0', '--machines-fs', 'none'], { dataDir: join(fs.dir, 'data') })
    const hm = d.client.machines
    const m = await hm.create(d.app, { config: { image: d.image, init: { exec: ['sh', '-c', 'sleep 2; exit 3'] }, restart: { policy: 'no' } } })
    fs.fill()
    await sleep(3000)
    // It exited while nothing could be written: the row still says started.
    assert.equal((await hm.get(d.app, m.id)).state, 'started')
    await fs.unfill()
    const r = await hm.wait(d.app, m.id, { state: ['stopped'], timeout: 20 })
    assert.equal(r.state, 'stopped')
    const exit = (await hm.events(d.app, m.id, 10)).find((e) => e.type === 'exit')
    assert.ok(exit, 'the exit is recorded')
  })
})
