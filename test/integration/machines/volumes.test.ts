/**
 * Volumes through the REST API with the SDK, on real runc machines and btrfs subvolumes:
 * content, owners and limits are read back from inside the machines, never trusted from a
 * response; the host's side (mounts, subvolumes, free space) is checked on the host.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { daemonWithBusybox, refusedWith } from '../../support/machines.ts'
import { startDaemon } from '../../support/daemon.ts'

const sleeper = { image: 'busybox:latest', init: { exec: ['sleep', '100000'] } }
const MiB = 2 ** 20

test('volumes: data outlives machines, one machine at a time, sized for real, snapshots, forks, remount after a reboot', async (t) => {
  const d = await daemonWithBusybox(t, 'volapp')
  const { machines: hm, volumes: hv } = d.client
  const app = d.app
  const exec = (id: string, cmd: string) => hm.exec(app, id, { command: ['sh', '-c', cmd], timeout: 120 })
  const sh = async (id: string, cmd: string): Promise<string> => {
    const r = await exec(id, cmd)
    assert.equal(r.exit_code, 0, `${cmd}: ${r.stderr}`)
    return r.stdout
  }
  const withVolume = async (volume: string, name?: string) => {
    const m = await hm.create(app, { ...(name ? { name } : {}), config: { ...sleeper, mounts: [{ volume, path: '/data' }] } })
    await hm.wait(app, m.id, { state: ['started'] })
    return m
  }
  const volumesDir = join(d.dataDir, 'runtime', 'disks', 'volumes')
  const onDisk = (): string[] => readdirSync(volumesDir).filter((n) => n.startsWith('vol_') && !n.endsWith('.size'))

  const v = await hv.create(app, { name: 'data', size_gb: 1 })
  assert.match(v.id, /^vol_[a-z0-9]{16}$/)
  assert.equal(v.state, 'created')
  assert.equal(v.size_gb, 1)
  assert.equal(v.attached_machine_id, null)
  assert.equal(v.bytes_total, 2 ** 30)
  const a = await withVolume(v.id, 'first')

  await t.test('a file written in /data is owned by root inside, root writes there, and the volume says who holds it', async () => {
    assert.equal(await sh(a.id, 'echo kept > /data/f && stat -c "%u %g" /data /data/f'), '0 0\n0 0\n')
    assert.equal(await sh(a.id, 'mkdir /data/dir && chown 1000:1000 /data/dir && stat -c "%u" /data/dir'), '1000\n')
    assert.equal((await hv.get(app, v.id)).attached_machine_id, a.id)
    assert.deepEqual((await hm.get(app, a.id)).config.mounts, [{ volume: v.id, path: '/data' }])
  })

  await t.test('a second machine cannot mount it, and it cannot be deleted while attached; nothing is made', async () => {
    const before = (await hm.list(app)).length
    const e = await refusedWith(hm.create(app, { config: { ...sleeper, mounts: [{ volume: v.id, path: '/data' }] } }), 'volume_in_use')
    assert.equal(e.status, 409)
    assert.match(e.message, new RegExp(a.id))
    assert.equal((await hm.list(app)).length, before)
    const del = await refusedWith(hv.destroy(app, v.id), 'volume_in_use')
    assert.match(del.message, new RegExp(a.id))
    assert.match(del.hint, /destroy machine/)
    assert.ok(onDisk().includes(v.id))
  })

  await t.test('bad mounts and unknown ids are refused, naming the problem', async () => {
    for (const path of ['data', '/', '/proc/x', '/a/../b']) {
      const e = await refusedWith(hm.create(app, { config: { ...sleeper, mounts: [{ volume: v.id, path }] } }), 'invalid_argument')
      assert.match(e.message, /mounts/)
    }
    await refusedWith(hm.create(app, { config: { ...sleeper, mounts: [{ volume: 'vol_nosuchvolume00', path: '/data' }] } }), 'volume_not_found')
    await refusedWith(hv.get(app, 'vol_nosuchvolume00'), 'volume_not_found')
    await refusedWith(hv.create(app, { name: 'x', snapshot_id: 'vs_nosuch' }), 'volume_snapshot_not_found')
  })

  let c = a
  await t.test('the data outlives the machine: destroyed, the volume is free, and a new machine finds the file', async () => {
    await hm.destroy(app, a.id, { force: true })
    assert.equal((await hv.get(app, v.id)).attached_machine_id, null)
    c = await withVolume(v.id)
    assert.equal(await sh(c.id, 'cat /data/f'), 'kept\n')
  })

  await t.test('a full volume fails writes inside at its size; the host and other machines keep their room', async () => {
    const other = await hm.create(app, { config: sleeper })
    await hm.wait(app, other.id, { state: ['started'] })
    // The machines filesystem is a preallocated image: what the host gives it never grows (other tests share the host's disk, so its free space is no measure).
    const image = join(d.dataDir, 'runtime', 'machines.btrfs')
    const allocated = (): number => statSync(image).blocks * 512
    const allocatedBefore = allocated()
    const r = await exec(c.id, 'dd if=/dev/zero of=/data/big bs=1M count=1500 && sync')
    assert.notEqual(r.exit_code, 0)
    assert.match(r.stderr, /Disk quota exceeded|No space left/)
    const written = Number((await sh(c.id, 'stat -c %s /data/big')).trim())
    assert.ok(written > 900 * MiB && written <= 1024 * MiB, `wrote ${written} bytes into a 1 GB volume`)
    assert.equal(allocated(), allocatedBefore, 'the volume\'s bytes never come out of the host\'s disk')
    assert.equal(await sh(other.id, 'dd if=/dev/zero of=/fill bs=1M count=64 2>/dev/null && stat -c %s /fill'), `${64 * MiB}\n`)
    await sh(c.id, 'rm /data/big')
    await hm.destroy(app, other.id, { force: true })
  })

  await t.test('too large for the host is refused, naming the limit, and nothing is made', async () => {
    const before = onDisk().length
    const e = await refusedWith(hv.create(app, { name: 'huge', size_gb: 100 }), 'volume_too_large')
    assert.match(e.message, /100 GB.*machines filesystem \(\d/)
    assert.match(e.hint, /at most \d+ GB/)
    assert.equal(onDisk().length, before)
    assert.equal((await hv.list(app)).length, 1)
  })

  await t.test('extend grows a mounted volume at once (a bigger file fits after); shrinking is refused', async () => {
    await sh(c.id, 'dd if=/dev/zero of=/data/a bs=1M count=600 2>/dev/null')
    assert.notEqual((await exec(c.id, 'dd if=/dev/zero of=/data/b bs=1M count=600 && sync')).exit_code, 0, 'a second 600 MB fits no 1 GB volume')
    await sh(c.id, 'rm -f /data/b')
    const ext = await hv.extend(app, v.id, 2)
    assert.equal(ext.needs_restart, false)
    assert.equal(ext.volume.size_gb, 2)
    assert.equal(await sh(c.id, 'dd if=/dev/zero of=/data/b bs=1M count=600 2>/dev/null; sync; stat -c %s /data/b'), `${600 * MiB}\n`)
    const e = await refusedWith(hv.extend(app, v.id, 1), 'out_of_range')
    assert.match(e.message, /2 GB.*not shrink/)
    assert.equal((await hv.get(app, v.id)).size_gb, 2)
    await sh(c.id, 'rm /data/a /data/b')
  })

  await t.test('a volume made from a snapshot holds what was there at the snapshot', async () => {
    await sh(c.id, 'echo at-snapshot > /data/s')
    const s = await hv.snapshot(app, v.id)
    assert.match(s.id, /^vs_/)
    assert.equal(s.status, 'created')
    assert.ok(s.size > 0 && s.digest.length > 0)
    assert.deepEqual((await hv.snapshots(app, v.id)).map((x) => x.id), [s.id])
    await sh(c.id, 'echo later > /data/s')
    const restored = await hv.create(app, { name: 'restored', snapshot_id: s.id })
    assert.equal(restored.size_gb, 2, 'the snapshot\'s volume size')
    const m = await withVolume(restored.id)
    assert.equal(await sh(m.id, 'cat /data/s'), 'at-snapshot\n')
    await hm.destroy(app, m.id, { force: true })
    await hv.destroy(app, restored.id)
  })

  await t.test('a fork starts as its source and then diverges from it both ways', async () => {
    const fork = await hv.fork(app, v.id, { name: 'forked' })
    assert.notEqual(fork.id, v.id)
    const f = await withVolume(fork.id)
    assert.equal(await sh(f.id, 'cat /data/s'), 'later\n')
    await sh(f.id, 'echo fork > /data/s')
    await sh(c.id, 'echo source > /data/s')
    assert.equal(await sh(f.id, 'cat /data/s'), 'fork\n')
    assert.equal(await sh(c.id, 'cat /data/s'), 'source\n')
    await hm.destroy(app, f.id, { force: true })
    const gone = await hv.destroy(app, fork.id)
    assert.equal(gone.state, 'destroyed')
    await refusedWith(hv.get(app, fork.id), 'volume_not_found')
    assert.ok(!onDisk().includes(fork.id))
  })

  await t.test('after a simulated reboot (the volume mount gone) the next start mounts it again', async () => {
    await hm.stop(app, c.id)
    await hm.wait(app, c.id, { state: ['stopped'] })
    const mountPoint = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).find((p) => p?.endsWith(`/roots/${c.id}/vols/0`))
    assert.ok(mountPoint, 'the idmapped volume mount stays while the machine is stopped')
    execFileSync('umount', [mountPoint])
    await hm.start(app, c.id)
    await hm.wait(app, c.id, { state: ['started'] })
    assert.equal(await sh(c.id, 'cat /data/s && stat -c %u /data/s'), 'source\n0\n')
  })

  await t.test('destroying the machine and then the volume leaves no mount and no subvolume', async () => {
    await hm.destroy(app, c.id, { force: true })
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(`/roots/${c.id}/`))
    await hv.destroy(app, v.id)
    assert.deepEqual(onDisk(), [])
    assert.ok(!existsSync(join(volumesDir, `${v.id}.size`)))
  })
})

test('volumes without a machines filesystem are refused with a clear error', async (t) => {
  const d = await startDaemon(t, ['--machines-fs', 'none'])
  await d.client.apps.create('novol')
  const e = await refusedWith(d.client.volumes.create('novol', { name: 'data', size_gb: 1 }), 'volumes_unsupported')
  assert.match(e.message, /--machines-fs none/)
  assert.deepEqual(await d.client.volumes.list('novol'), [])
})

test('the files API reaches into a machine\'s volume: what it writes there is in the volume, running or stopped', async (t) => {
  const d = await daemonWithBusybox(t, 'volfiles')
  const { machines: hm, volumes: hv } = d.client
  const app = d.app
  const vol = await hv.create(app, { name: 'data', size_gb: 1 })
  const m = await hm.create(app, { config: { ...sleeper, mounts: [{ volume: vol.id, path: '/data' }] } })
  await hm.wait(app, m.id, { state: ['started'] })

  await hm.fs.write(app, m.id, '/data/from-api.txt', 'through the API\n')
  const cat = await hm.exec(app, m.id, { command: ['cat', '/data/from-api.txt'] })
  assert.equal(cat.stdout, 'through the API\n')
  await hm.exec(app, m.id, { command: ['sh', '-c', 'mkdir -p /data/sub && echo inside > /data/sub/x'] })
  assert.equal(await hm.fs.readText(app, m.id, '/data/sub/x'), 'inside\n')
  const listed = await hm.fs.list(app, m.id, '/data', { recursive: true })
  assert.deepEqual(listed.entries.map((e) => e.path).sort(), ['/data/from-api.txt', '/data/sub', '/data/sub/x'])
  await refusedWith(hm.fs.rename(app, m.id, '/data/from-api.txt', '/moved.txt'), 'file_error')

  // Stopped, and after the machine is gone the data is in the volume for the next machine.
  await hm.stop(app, m.id)
  await hm.fs.write(app, m.id, '/data/while-stopped.txt', 'stopped\n')
  await hm.destroy(app, m.id)
  const next = await hm.create(app, { config: { ...sleeper, mounts: [{ volume: vol.id, path: '/mnt/v' }] } })
  await hm.wait(app, next.id, { state: ['started'] })
  const both = await hm.exec(app, next.id, { command: ['cat', '/mnt/v/from-api.txt', '/mnt/v/while-stopped.txt'] })
  assert.equal(both.stdout, 'through the API\nstopped\n')
  await hm.destroy(app, next.id, { force: true })
})
