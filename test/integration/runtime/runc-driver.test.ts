/**
 * The runc driver against real runc, conmon and CNI: the shared driver
 * contract, plus what only runc has (a reachable bridge address, seccomp,
 * cgroup limits, and a destroy that leaves nothing on the host).
 */
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, test } from 'node:test'
import { createRuncDriver, type Driver, type NetworkOptions } from '../../../src/runtime/index.ts'
import { driverSuite } from '../../contract/driver.suite.ts'
import { httpGet } from '../../support/machines.ts'
import { WALLS_VERSION } from '../../../src/runtime/runc/provision.ts'
import { Layout } from '../../../src/runtime/runc/layout.ts'
import { busyboxLayer, cleanupList, hostTraces, machineSpec, MiB, testMachinesFs, testNetwork, useTmp } from '../../support/runtime.ts'

// One network per stateDir: a "restarted" driver must find the same bridge and subnet.
const networks = new Map<string, NetworkOptions>()
const bridges = cleanupList()
after(() => bridges.run())
function networkFor(stateDir: string): NetworkOptions {
  let net = networks.get(stateDir)
  if (!net) networks.set(stateDir, (net = testNetwork(bridges)))
  return net
}

driverSuite({ name: 'runc', newDriver: (stateDir) => createRuncDriver({ stateDir, network: networkFor(stateDir) }) })
driverSuite({
  name: 'runc, disks with quotas on btrfs',
  newDriver: (stateDir, suite) => createRuncDriver({ stateDir, network: networkFor(stateDir), machinesFs: testMachinesFs(suite, stateDir), defaultDiskBytes: 64 * MiB }),
})

describe('runc driver specifics', () => {
  let stateDir = ''
  let layer = ''
  let driver: Driver

  const cleanup = cleanupList()
  before(async () => {
    stateDir = useTmp(cleanup, 'hangar-runc-')
    layer = busyboxLayer(cleanup)
    driver = await createRuncDriver({ stateDir, network: networkFor(stateDir) })
  })
  after(async () => {
    for (const id of await driver.list()) await driver.destroy(id)
    await driver.close()
    await cleanup.run()
  })

  test('reports its capabilities', () => {
    assert.equal(driver.name, 'runc')
    assert.equal(driver.capabilities.memorySnapshots, false)
    assert.equal(driver.capabilities.seccomp, true)
    assert.equal(typeof driver.capabilities.ipv6, 'boolean')
  })

  test('httpd in a machine answers on its private address', { timeout: 30_000 }, async (t) => {
    const spec = machineSpec(layer, ['httpd', '-f', '-p', '8080', '-h', '/www'])
    t.after(() => driver.destroy(spec.id))
    const net = await driver.create(spec)
    await driver.start(spec.id)
    let body = ''
    for (let i = 0; i < 200 && !body; i++) {
      body = await fetch(`http://${net.ipv4}:8080/`).then((r) => r.text(), () => '')
      if (!body) await new Promise((r) => setTimeout(r, 10))
    }
    assert.equal(body, 'hello from hangar\n')
    if (driver.capabilities.ipv6) assert.ok(net.ipv6)
  })

  test('a machine whose netns vanished (host reboot) gets it back with the same address on start', { timeout: 30_000 }, async (t) => {
    const spec = machineSpec(layer, ['httpd', '-f', '-p', '8080', '-h', '/www'])
    t.after(() => driver.destroy(spec.id))
    const net = await driver.create(spec)
    const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '').find((n) => n.endsWith(spec.id))
    assert.ok(netns, 'the machine has a netns')
    // What a reboot takes: the netns, the user namespace file and the mount (all in /run or the kernel).
    const paths = new Layout(stateDir).machine(spec.id)
    execFileSync('ip', ['netns', 'del', netns])
    execFileSync('umount', [paths.userns])
    rmSync(paths.userns)
    execFileSync('umount', [paths.rootfs])
    rmSync(paths.rootDir, { recursive: true })
    await driver.start(spec.id)
    let body = ''
    for (let i = 0; i < 200 && !body; i++) {
      body = await fetch(`http://${net.ipv4}:8080/`).then((r) => r.text(), () => '')
      if (!body) await new Promise((r) => setTimeout(r, 10))
    }
    assert.equal(body, 'hello from hangar\n', 'reachable at the address it had')
  })

  test('machines are confined: seccomp filter, no-new-privs, limited caps, hostname, cgroup limits', { timeout: 30_000 }, async (t) => {
    const spec = machineSpec(layer, ['sleep', '1000'], { guest: { cpus: 0.5, memoryMb: 64 } })
    t.after(() => driver.destroy(spec.id))
    await driver.create(spec)
    await driver.start(spec.id)
    const run = async (cmd: string): Promise<string> => (await driver.exec(spec.id, { cmd: ['sh', '-c', cmd], timeoutMs: 5000, maxBytes: 65536 })).stdout
    const status = await run('cat /proc/self/status')
    assert.match(status, /^Seccomp:\s+2$/m)
    assert.match(status, /^NoNewPrivs:\s+0$/m, 'setuid programs work, as on a VM')
    assert.match(status, /^CapBnd:\s+00000000800425fb$/m)
    assert.match(await run('cat /proc/self/uid_map'), /^\s+0\s+(\d+)\s+65536\n$/, 'root inside is an unprivileged host uid')
    assert.equal(await run('hostname'), `${spec.id}\n`)
    assert.equal(await run('cat /sys/fs/cgroup/memory/memory.limit_in_bytes'), `${64 * 1024 * 1024}\n`)
    assert.equal(await run('cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us'), '50000\n')
    if (driver.capabilities.ioWeight) assert.equal(await run('cat /sys/fs/cgroup/blkio/blkio.bfq.weight'), '50\n', 'half a CPU, half the default I/O share')
    assert.match(await run('cat /etc/hosts'), new RegExp(spec.id))
  })

  test('a machine made under older walls gets the current bundle at its next start', { timeout: 30_000 }, async (t) => {
    const spec = machineSpec(layer, ['sleep', '1000'])
    t.after(() => driver.destroy(spec.id))
    await driver.create(spec)
    // As a machine from before the seccomp policy and capability change: no marker, more caps, no filter.
    const paths = { config: join(stateDir, 'machines', spec.id, 'config.json'), walls: join(stateDir, 'machines', spec.id, 'walls') }
    const old = JSON.parse(readFileSync(paths.config, 'utf8'))
    old.process.capabilities = Object.fromEntries(['bounding', 'effective', 'permitted'].map((k) => [k, [...old.process.capabilities[k], 'CAP_NET_RAW', 'CAP_MKNOD']]))
    delete old.linux.seccomp
    writeFileSync(paths.config, JSON.stringify(old))
    rmSync(paths.walls)
    await driver.start(spec.id)
    const status = (await driver.exec(spec.id, { cmd: ['cat', '/proc/self/status'], timeoutMs: 5000, maxBytes: 65536 })).stdout
    assert.match(status, /^Seccomp:\s+2$/m)
    assert.match(status, /^CapBnd:\s+00000000800425fb$/m)
    assert.equal(readFileSync(paths.walls, 'utf8'), WALLS_VERSION)
  })

  test('a machine from before user namespaces moves into one at its next start, keeping its address and its files', { timeout: 30_000 }, async (t) => {
    const spec = machineSpec(layer, ['httpd', '-f', '-p', '8080', '-h', '/www'])
    t.after(() => driver.destroy(spec.id))
    const net = await driver.create(spec)
    const paths = new Layout(stateDir).machine(spec.id)
    mkdirSync(join(paths.upper, 'www'))
    writeFileSync(join(paths.upper, 'www', 'kept.html'), 'kept\n')
    // Made into what such a machine looked like: a host-owned netns, a plain overlay at <machine>/rootfs, no range.
    const netns = JSON.parse(readFileSync(paths.network, 'utf8')).netns as string
    execFileSync('umount', [paths.rootfs])
    rmSync(paths.rootDir, { recursive: true })
    execFileSync('umount', [paths.userns])
    rmSync(paths.userns)
    execFileSync('ip', ['netns', 'del', netns])
    execFileSync('ip', ['netns', 'add', netns])
    for (const f of [paths.idmap, paths.walls]) rmSync(f)
    mkdirSync(join(paths.dir, 'rootfs'))
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=l/0,upperdir=${paths.upper},workdir=${paths.work}`, 'rootfs'], { cwd: paths.dir })

    await driver.start(spec.id)
    assert.match((await driver.exec(spec.id, { cmd: ['cat', '/proc/self/uid_map'], timeoutMs: 5000, maxBytes: 4096 })).stdout, /^\s+0\s+\d{9,}\s+65536\n$/)
    let body = ''
    for (let i = 0; i < 200 && !body; i++) {
      body = await fetch(`http://${net.ipv4}:8080/kept.html`).then((r) => (r.ok ? r.text() : ''), () => '')
      if (!body) await new Promise((r) => setTimeout(r, 10))
    }
    assert.equal(body, 'kept\n', 'same address, same disk')
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(join(paths.dir, 'rootfs')), 'the old mount is gone')
  })

  test('destroy leaves no mount, netns, veth, iptables rule or runc state', { timeout: 30_000 }, async () => {
    const spec = machineSpec(layer, ['httpd', '-f', '-p', '8080', '-h', '/www'])
    const net = await driver.create(spec)
    try {
      await driver.start(spec.id)
      // No iptables rule even while it runs: NAT is one nftables rule for the whole network.
      assert.deepEqual(hostTraces({ id: spec.id, stateDir, hostVeth: net.hostVeth }).sort(), ['machine dir', 'mount', 'netns', 'runc state', ...(net.hostVeth ? ['veth'] : [])].sort())
    } finally {
      await driver.destroy(spec.id)
    }
    assert.deepEqual(hostTraces({ id: spec.id, stateDir, hostVeth: net.hostVeth }), [])
  })

  test('machines survive the daemon being killed with SIGKILL', { timeout: 30_000 }, async (t) => {
    const doomed = fileURLToPath(new URL('./fixtures/doomed-daemon.ts', import.meta.url))
    const input = { stateDir, network: networkFor(stateDir), layer, args: ['httpd', '-f', '-p', '8080', '-h', '/www'] }
    const child = spawn(process.execPath, [doomed, JSON.stringify(input)], { stdio: ['ignore', 'pipe', 'inherit'] })
    t.after(() => child.kill('SIGKILL'))
    const [line] = (await once(child.stdout, 'data')) as [Buffer]
    const { id, ipv4 } = JSON.parse(line.toString()) as { id: string; ipv4: string }
    t.after(() => driver.destroy(id))
    child.kill('SIGKILL')
    await once(child, 'exit')
    const seen = await driver.inspect(id)
    assert.equal(seen.status, 'running')
    // httpd may still be binding its port: the machine was started a moment before the kill.
    assert.equal((await httpGet(`http://${ipv4}:8080/`)).body, 'hello from hangar\n')
  })
})
