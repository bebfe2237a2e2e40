/**
 * Machine disks with quotas, on a real btrfs machines filesystem (a loop-mounted image): a machine
 * cannot write past its limit, in bytes or in inodes, and the other machines and the host keep
 * theirs; limits survive stop/start, a restarted driver and a reboot; sizes the filesystem cannot
 * give are refused before anything is made; destroy gives the disk back.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, test, type TestContext } from 'node:test'
import { createRuncDriver, unmountMachinesFs, type Driver, type MachineSpec, type NetworkOptions } from '../../../src/runtime/index.ts'
import { isBtrfs, qgroups, subvolumeUsage } from '../../../src/rootfs/index.ts'
import { Layout } from '../../../src/runtime/runc/layout.ts'
import { busyboxLayer, cleanupList, GiB, machineSpec, MiB, testMachinesFs, testNetwork, useTmp } from '../../support/runtime.ts'

const T = { timeout: 30_000 }

describe('machine disks with quotas on btrfs', () => {
  const cleanup = cleanupList()
  let stateDir = ''
  let layer = ''
  let network: NetworkOptions
  let driver: Driver
  let layout: Layout

  const newDriver = (): Promise<Driver> =>
    createRuncDriver({ stateDir, network, machinesFs: testMachinesFs(cleanup, stateDir, GiB), defaultDiskBytes: 64 * MiB })

  before(async () => {
    stateDir = useTmp(cleanup, 'hangar-quota-')
    layer = busyboxLayer(cleanup)
    network = testNetwork(cleanup)
    driver = await newDriver()
    layout = new Layout(stateDir, join(stateDir, 'disks'))
  })
  after(async () => {
    for (const id of await driver.list()) await driver.destroy(id)
    await driver.close()
    await cleanup.run()
  })

  async function running(t: TestContext, over: Partial<MachineSpec> = {}): Promise<MachineSpec> {
    const spec = machineSpec(layer, ['sleep', '1000'], over)
    t.after(() => driver.destroy(spec.id))
    await driver.create(spec)
    await driver.start(spec.id)
    return spec
  }

  async function sh(id: string, script: string): Promise<{ code: number; out: string; err: string }> {
    const r = await driver.exec(id, { cmd: ['sh', '-c', script], timeoutMs: 25_000, maxBytes: 65536 })
    return { code: r.exitCode, out: r.stdout, err: r.stderr }
  }

  const usage = (id: string) => subvolumeUsage(layout.machine(id).disk)

  test('a machine cannot write past its disk; another machine and the host keep theirs', T, async (t) => {
    const a = await running(t, { diskBytes: 64 * MiB })
    const b = await running(t, { diskBytes: 64 * MiB })
    const fill = await sh(a.id, 'dd if=/dev/zero of=/fill bs=1M count=200; echo rc=$?; wc -c < /fill')
    assert.match(fill.err, /Disk quota exceeded/)
    const [rc, written] = fill.out.trim().split('\n')
    assert.notEqual(rc, 'rc=0')
    assert.ok(Number(written) > 32 * MiB && Number(written) <= 64 * MiB, `wrote ${written} bytes`)
    const held = await usage(a.id)
    assert.equal(held.limit, 64 * MiB)
    assert.ok(held.used <= 64 * MiB)
    // The full machine still runs and reads; the other writes its whole disk's worth.
    assert.equal((await sh(a.id, 'cat /etc/passwd | wc -l')).out.trim(), '2')
    assert.equal((await sh(b.id, 'dd if=/dev/zero of=/data bs=1M count=48 2>/dev/null && echo ok')).out.trim(), 'ok')
    // The disks live on the machines filesystem, not on the host's: its data dir still takes files.
    assert.ok(isBtrfs(layout.machine(a.id).upper) && !isBtrfs(stateDir))
    writeFileSync(join(stateDir, 'host-file'), Buffer.alloc(MiB))
  })

  test('inodes are paid for in the same bytes: a machine making empty files stops at its limit, the others do not', T, async (t) => {
    const small = await running(t, { diskBytes: 2 * MiB })
    const other = await running(t, { diskBytes: 16 * MiB })
    // echo, not ':': a failed redirection of a special builtin ends the shell.
    const r = await sh(small.id, 'mkdir /many; cd /many; i=0; while echo -n > f$i 2>/dev/null; do i=$((i+1)); done; echo $i; echo -n > /one-more')
    const made = Number(r.out.trim())
    assert.ok(made > 100 && made < 100_000, `made ${made} files before the limit`)
    assert.match(r.err, /Disk quota exceeded/)
    const o = await sh(other.id, 'mkdir /many && cd /many && i=0; while [ $i -lt 2000 ]; do echo -n > f$i || exit 1; i=$((i+1)); done; ls | wc -l')
    assert.equal(o.out.trim(), '2000')
  })

  test('the limit holds across stop/start, a restarted driver and a reboot (machines filesystem unmounted)', T, async (t) => {
    const m = await running(t, { diskBytes: 32 * MiB })
    assert.equal((await sh(m.id, 'dd if=/dev/zero of=/kept bs=1M count=8 2>/dev/null && echo ok')).out.trim(), 'ok')
    await driver.stop(m.id, { signal: 'SIGKILL', graceMs: 0 })
    await driver.close()
    driver = await newDriver()
    await driver.start(m.id)
    assert.match((await sh(m.id, 'dd if=/dev/zero of=/more bs=1M count=100')).err, /Disk quota exceeded/)
    await sh(m.id, 'rm /more')
    await driver.stop(m.id, { signal: 'SIGKILL', graceMs: 0 })
    // A reboot: no rootfs mount, no machines filesystem, no loop device.
    await driver.close()
    execFileSync('umount', [layout.machine(m.id).rootfs])
    await unmountMachinesFs(stateDir)
    assert.ok(!isBtrfs(layout.machine(m.id).disk))
    driver = await newDriver()
    await driver.start(m.id)
    assert.equal((await sh(m.id, 'wc -c < /kept')).out.trim(), String(8 * MiB))
    assert.match((await sh(m.id, 'dd if=/dev/zero of=/more bs=1M count=100')).err, /Disk quota exceeded/)
    assert.equal((await usage(m.id)).limit, 32 * MiB)
  })

  test('reconfigure gives a stopped machine a new limit, but none below what its disk holds', T, async (t) => {
    const m = await running(t, { diskBytes: 32 * MiB })
    await sh(m.id, 'dd if=/dev/zero of=/a bs=1M count=24 2>/dev/null')
    await driver.stop(m.id, { signal: 'SIGKILL', graceMs: 0 })
    await driver.reconfigure({ ...m, diskBytes: 96 * MiB })
    assert.equal((await usage(m.id)).limit, 96 * MiB)
    await driver.start(m.id)
    assert.equal((await sh(m.id, 'dd if=/dev/zero of=/b bs=1M count=48 2>/dev/null && echo ok')).out.trim(), 'ok')
    await driver.stop(m.id, { signal: 'SIGKILL', graceMs: 0 })
    await assert.rejects(driver.reconfigure({ ...m, diskBytes: 32 * MiB }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'out_of_range')
      assert.match(e.message, /already holds \d+(\.\d+)? GB on its disk, more than a rootfs of 0\.03 GB/)
      return true
    })
    assert.equal((await usage(m.id)).limit, 96 * MiB)
  })

  test('a disk the filesystem cannot give is refused naming the limit, and nothing is made', T, async (t) => {
    const traces = (id: string) => [layout.machine(id).dir, layout.machine(id).disk].filter((p) => existsSync(p))
    const huge = machineSpec(layer, ['sleep', '1000'], { diskBytes: 2 * GiB })
    await assert.rejects(driver.create(huge), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'rootfs_too_large')
      assert.match(e.message, /a rootfs of 2 GB is larger than this host's machines filesystem \(1 GB\)/)
      return true
    })
    assert.deepEqual(traces(huge.id), [])
    const big = machineSpec(layer, ['sleep', '1000'], { diskBytes: 900 * MiB })
    t.after(() => driver.destroy(big.id))
    await driver.create(big)
    const late = machineSpec(layer, ['sleep', '1000'], { diskBytes: 200 * MiB })
    await assert.rejects(driver.create(late), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'rootfs_no_room')
      assert.match(e.message, /does not fit: the other machines on this host hold 0\.88 GB of the 1 GB/)
      return true
    })
    assert.deepEqual(traces(late.id), [])
    assert.ok(!(await driver.list()).includes(late.id))
  })

  test('destroy deletes the disk and frees its qgroup and its room', T, async () => {
    const spec = machineSpec(layer, ['sleep', '1000'], { diskBytes: 900 * MiB })
    await driver.create(spec)
    await driver.start(spec.id)
    await sh(spec.id, 'dd if=/dev/zero of=/x bs=1M count=16 2>/dev/null')
    const { qgroup } = await usage(spec.id)
    await driver.destroy(spec.id)
    assert.ok(!existsSync(layout.machine(spec.id).disk))
    for (let i = 0; i < 100 && (await qgroups(join(stateDir, 'disks'))).includes(qgroup); i++) await sleep(100)
    assert.ok(!(await qgroups(join(stateDir, 'disks'))).includes(qgroup), `${qgroup} is gone`)
    // Its room is free again: the same size fits.
    const again = machineSpec(layer, ['sleep', '1000'], { diskBytes: 900 * MiB })
    await driver.create(again)
    await driver.destroy(again.id)
  })

  test('without a machines filesystem, sizes are refused and the capability says so', T, async (t) => {
    const plainDir = useTmp(t, 'hangar-noquota-')
    const plain = await createRuncDriver({ stateDir: plainDir, network })
    t.after(() => plain.close())
    assert.equal(plain.capabilities.diskQuota, false)
    assert.equal(driver.capabilities.diskQuota, true)
    const spec = machineSpec(layer, ['sleep', '1000'], { diskBytes: GiB })
    await assert.rejects(plain.create(spec), { code: 'disk_quota_unsupported' })
    assert.deepEqual(await plain.list(), [])
  })

  test('a device the operator names is used when it holds btrfs, refused with a hint when not; so is a btrfs path', T, async (t) => {
    const mine = cleanupList()
    t.after(() => mine.run())
    const dir = useTmp(mine, 'hangar-device-')
    const device = (name: string, mkfs: boolean): string => {
      execFileSync('truncate', ['-s', '512M', join(dir, name)])
      if (mkfs) execFileSync('mkfs.btrfs', ['-q', join(dir, name)])
      const dev = execFileSync('losetup', ['--find', '--show', join(dir, name)], { encoding: 'utf8' }).trim()
      mine.after(() => execFileSync('losetup', ['-d', dev]))
      return dev
    }
    const blank = device('blank.img', false)
    await assert.rejects(createRuncDriver({ stateDir: join(dir, 'a'), network, machinesFs: { kind: 'device', device: blank } }), (e: Error & { hint?: string }) => {
      assert.match(e.message, new RegExp(`${blank} holds no btrfs filesystem`))
      assert.match(e.hint ?? '', /mkfs\.btrfs/)
      return true
    })
    const btrfs = device('btrfs.img', true)
    for (const [stateDir, machinesFs] of [
      [join(dir, 'b'), { kind: 'device', device: btrfs }],
      [join(dir, 'c'), { kind: 'path', path: join(dir, 'b', 'disks') }],
    ] as const) {
      // Cleanups run last first: the machine goes before the filesystem it lives on.
      if (machinesFs.kind === 'device') mine.after(() => unmountMachinesFs(stateDir))
      const d = await createRuncDriver({ stateDir, network, machinesFs })
      const spec = machineSpec(layer, ['sleep', '1000'], { diskBytes: 16 * MiB })
      mine.after(async () => {
        await d.destroy(spec.id)
        await d.close()
      })
      await d.create(spec)
      await d.start(spec.id)
      const r = await d.exec(spec.id, { cmd: ['dd', 'if=/dev/zero', 'of=/fill', 'bs=1M', 'count=64'], timeoutMs: 10_000, maxBytes: 4096 })
      assert.match(r.stderr, /Disk quota exceeded/, machinesFs.kind)
    }
  })

  test('a machine from before the machines filesystem moves its disk onto one at its next start, keeping its files', T, async (t) => {
    // Its own cleanup list: the disk is unmounted, and the machine destroyed, before the dir goes.
    const mine = cleanupList()
    t.after(() => mine.run())
    const oldDir = useTmp(mine, 'hangar-premove-')
    const old = await createRuncDriver({ stateDir: oldDir, network })
    const spec = machineSpec(layer, ['sleep', '1000'])
    await old.create(spec)
    await old.start(spec.id)
    await old.exec(spec.id, { cmd: ['sh', '-c', 'echo kept > /kept'], timeoutMs: 5000, maxBytes: 1024 })
    await old.stop(spec.id, { signal: 'SIGKILL', graceMs: 0 })
    await old.close()
    const moved = await createRuncDriver({ stateDir: oldDir, network, machinesFs: testMachinesFs(mine, oldDir, GiB), defaultDiskBytes: 64 * MiB })
    mine.after(async () => {
      await moved.destroy(spec.id)
      await moved.close()
    })
    await moved.start(spec.id)
    const r = await moved.exec(spec.id, { cmd: ['cat', '/kept'], timeoutMs: 5000, maxBytes: 1024 })
    assert.equal(r.stdout, 'kept\n')
    const paths = new Layout(oldDir, join(oldDir, 'disks')).machine(spec.id)
    assert.equal((await subvolumeUsage(paths.disk)).limit, 64 * MiB)
    assert.ok(!existsSync(join(paths.dir, 'upper')), 'the old upper is gone')
  })
})
