/**
 * config.rootfs.size_gb through the API, on a daemon whose machines filesystem is a 3 GB btrfs
 * image: bad sizes are 400s naming the field, a size the host cannot give is refused with its
 * limit named and leaves no machine; a 1 GB machine fills its disk from inside and stops there
 * while another machine, the host's data dir and the daemon carry on; the limit survives kill -9
 * of the daemon; an update of a stopped machine changes it.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isHangarError } from '../../../src/errors.ts'
import { daemonWithBusybox } from '../../support/machines.ts'


async function refusal(p: Promise<unknown>): Promise<{ code: string; status: number; message: string }> {
  try {
    await p
  } catch (e) {
    if (isHangarError(e)) return { code: e.code, status: e.status, message: e.message }
    throw e
  }
  assert.fail('expected a refusal')
}

test('rootfs.size_gb is a disk limit nothing inside a machine can pass', { timeout: 120_000 }, async (t) => {
  const d = await daemonWithBusybox(t, 'disks', ['--machines-fs-size', '3G', '--rootfs-size', '256M', '--disk-overcommit', '1'])
  // A getter: a restarted daemon listens on a new port, with a new client.
  const api = { get hm() { return d.client.machines } }
  const config = (rootfs?: Record<string, unknown>) => ({ image: d.image, init: { exec: ['sleep', '1000'] }, ...(rootfs ? { rootfs } : {}) })
  const sh = async (id: string, cmd: string) => api.hm.exec(d.app, id, { cmd, timeout: 60 })

  await t.test('bad sizes are 400s naming the field', async () => {
    for (const rootfs of [{ size_gb: -1 }, { size_gb: 1.5 }, { size_gb: 'big' }, { size_gb: 2, fs_size_gb: 3 }]) {
      const r = await refusal(api.hm.create(d.app, { config: config(rootfs) }))
      assert.equal(r.status, 400)
      assert.equal(r.code, 'invalid_argument')
      assert.match(r.message, /config\.rootfs\.(fs_)?size_gb/)
    }
  })

  await t.test('a size larger than the host can give is refused, naming the limit, and leaves no machine', async () => {
    const r = await refusal(api.hm.create(d.app, { config: config({ size_gb: 4 }) }))
    assert.equal(r.status, 400)
    assert.equal(r.code, 'rootfs_too_large')
    assert.match(r.message, /a rootfs of 4 GB is larger than this host's machines filesystem \(3 GB\)/)
    assert.deepEqual((await api.hm.list(d.app, { includeDeleted: true })).map((m) => m.id), [])
  })

  let full = ''
  let other = ''
  await t.test('a 1 GB machine fills its disk and stops at 1 GB; another machine, the host and the daemon carry on', async () => {
    full = (await api.hm.create(d.app, { config: config({ size_gb: 1, persist: 'always' }) })).id
    other = (await api.hm.create(d.app, { config: config() })).id
    // The machines filesystem is a preallocated image: a machine's writes land inside blocks the host
    // already gave it. (Not the host's free space: other test files' daemons take some meanwhile.)
    const image = join(d.dataDir, 'runtime', 'machines.btrfs')
    const imageBlocks = statSync(image).blocks
    const fill = await sh(full, 'dd if=/dev/zero of=/fill bs=1M count=1500; wc -c < /fill')
    assert.match(fill.stderr, /Disk quota exceeded/)
    const written = Number(fill.stdout.trim())
    assert.ok(written > 900 * 2 ** 20 && written <= 2 ** 30, `wrote ${written} bytes`)
    // The gigabyte went to the machines filesystem, preallocated: the host's disk did not pay for it.
    assert.equal(statSync(image).blocks, imageBlocks, 'the host\'s disk paid nothing more for the gigabyte')
    writeFileSync(join(d.dataDir, 'host-can-write'), Buffer.alloc(2 ** 20))
    const o = await sh(other, 'dd if=/dev/zero of=/data bs=1M count=128 2>/dev/null && wc -c < /data')
    assert.equal(o.stdout.trim(), String(128 * 2 ** 20))
    assert.equal((await api.hm.get(d.app, full)).state, 'started')
    assert.equal((await sh(full, 'echo still here')).stdout, 'still here\n')
    assert.equal(((await api.hm.get(d.app, full)).config.rootfs as { persist?: string } | undefined)?.persist, 'always', 'rootfs is echoed as given')
  })

  await t.test('the limit survives kill -9 of the daemon and a stop/start', async () => {
    await d.crash()
    await d.restart()
    assert.match((await sh(full, 'dd if=/dev/zero of=/more bs=1M count=10')).stderr, /Disk quota exceeded/)
    await api.hm.stop(d.app, full)
    await api.hm.start(d.app, full)
    assert.match((await sh(full, 'dd if=/dev/zero of=/more bs=1M count=10')).stderr, /Disk quota exceeded/)
    assert.equal((await sh(full, 'rm /more; rm /fill; dd if=/dev/zero of=/again bs=1M count=100 2>/dev/null && echo ok')).stdout.trim(), 'ok')
  })

  await t.test('an update changes the limit; one the host cannot give keeps the old', async () => {
    const sized = (size_gb: number) => ({ ...config(), rootfs: { size_gb } })
    const r = await refusal(api.hm.update(d.app, full, { config: sized(3) }))
    assert.equal(r.code, 'rootfs_no_room', 'the other machine holds 256 MB of the 3 GB')
    assert.match(r.message, /a rootfs of 3 GB does not fit: the other machines on this host hold 0\.25 GB of the 3 GB/)
    assert.equal((await api.hm.get(d.app, full)).state, 'started', 'refused before the machine was stopped')
    assert.match((await sh(full, 'dd if=/dev/zero of=/big bs=1M count=1200')).stderr, /Disk quota exceeded/)
    await sh(full, 'rm /big')
    await api.hm.update(d.app, full, { config: sized(2) })
    const big = await sh(full, 'dd if=/dev/zero of=/big bs=1M count=1200 2>/dev/null && wc -c < /big')
    assert.equal(big.stdout.trim(), String(1200 * 2 ** 20))
  })
})
