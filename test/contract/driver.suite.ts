/**
 * The behaviour every machine driver must have, run against a real driver.
 * A driver's test file calls driverSuite once:
 *
 *   driverSuite({ name: 'runc', newDriver: (stateDir) => createRuncDriver({ stateDir, network }) })
 *
 * newDriver is called again with the same stateDir to play "the daemon
 * restarted". Machines run a busybox layer (sh, httpd, sleep, dd…).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Driver, ExitInfo, MachineSpec, NetworkInfo } from '../../src/runtime/index.ts'
import { busyboxLayer, cleanupList, machineSpec, useTmp, type Cleanup } from '../support/runtime.ts'

export interface DriverSuiteOptions {
  name: string
  /** `suite` runs its cleanups before the stateDir is removed (e.g. to unmount a filesystem the driver mounted there). */
  newDriver: (stateDir: string, suite: Cleanup) => Promise<Driver>
}

const T = { timeout: 60_000 }

export function driverSuite(opts: DriverSuiteOptions): void {
  describe(`${opts.name} driver contract`, () => {
    let stateDir = ''
    let layer = ''
    let driver: Driver

    const cleanup = cleanupList()
    before(async () => {
      const suite = cleanup
      stateDir = useTmp(suite, 'hangar-contract-')
      layer = busyboxLayer(suite)
      driver = await opts.newDriver(stateDir, suite)
    })
    after(async () => {
      for (const id of await driver.list()) await driver.destroy(id)
      await driver.close()
      await cleanup.run()
    })

    /** Creates a machine that is destroyed when the test ends, pass or fail. */
    async function machine(t: TestContext, args: string[], over: Partial<MachineSpec> = {}): Promise<MachineSpec & { net: NetworkInfo }> {
      const spec = machineSpec(layer, args, over)
      t.after(() => driver.destroy(spec.id))
      return { ...spec, net: await driver.create(spec) }
    }

    function nextExit(id: string, d = driver): Promise<ExitInfo> {
      return new Promise((resolve) => {
        const off = d.onExit((got, exit) => {
          if (got !== id) return
          off()
          resolve(exit)
        })
      })
    }

    test('create runs nothing; start runs the process and inspect reports it', T, async (t) => {
      const m = await machine(t, ['sleep', '1000'])
      assert.match(m.net.ipv4, /^\d+\.\d+\.\d+\.\d+$/)
      assert.equal((await driver.inspect(m.id)).status, 'created')
      const { pid } = await driver.start(m.id)
      assert.ok(pid > 0)
      assert.deepEqual(await driver.inspect(m.id), { status: 'running', pid, exit: null })
      assert.ok((await driver.list()).includes(m.id))
    })

    test('exec returns stdout, stderr, exit code and sees the machine env', T, async (t) => {
      const m = await machine(t, ['sleep', '1000'])
      await driver.start(m.id)
      const r = await driver.exec(m.id, { cmd: ['sh', '-c', 'echo $GREETING $EXTRA; cat; echo oops >&2; exit 5'], env: ['EXTRA=there'], stdin: 'in\n', timeoutMs: 10_000, maxBytes: 1024 })
      assert.equal(r.exitCode, 5)
      assert.equal(r.stdout, 'hi there\nin\n')
      assert.equal(r.stderr, 'oops\n')
      assert.equal(r.timedOut, false)
    })

    test('exec caps output at maxBytes and marks it truncated', T, async (t) => {
      const m = await machine(t, ['sleep', '1000'])
      await driver.start(m.id)
      const r = await driver.exec(m.id, { cmd: ['sh', '-c', 'head -c 100000 /dev/zero | tr "\\0" x'], timeoutMs: 10_000, maxBytes: 1000 })
      assert.equal(r.exitCode, 0)
      assert.equal(r.stdout.length, 1000)
      assert.equal(r.stdoutTruncated, true)
      assert.equal(r.stderrTruncated, false)
    })

    test('exec timeout kills the command inside the machine', T, async (t) => {
      const m = await machine(t, ['sleep', '1000'])
      await driver.start(m.id)
      const t0 = Date.now()
      const r = await driver.exec(m.id, { cmd: ['sleep', '77'], timeoutMs: 300, maxBytes: 1024 })
      assert.equal(r.timedOut, true)
      assert.ok(Date.now() - t0 < 5000)
      const ps = await driver.exec(m.id, { cmd: ['ps'], timeoutMs: 5000, maxBytes: 65536 })
      assert.doesNotMatch(ps.stdout, /sleep 77/)
    })

    test('exec whose signal aborts kills the command and its children, even right at the start', T, async (t) => {
      const m = await machine(t, ['sleep', '1000'])
      await driver.start(m.id)
      // 300 ms: the command runs. The shorter ones land before, during or just after its start:
      // either nothing ran (AbortError) or it was killed; never is it left running.
      for (const afterMs of [300, 0, 5, 20, 50]) {
        const ac = new AbortController()
        const t0 = Date.now()
        const run = driver.exec(m.id, { cmd: ['sh', '-c', 'sleep 78; touch /root/late'], timeoutMs: 60_000, maxBytes: 1024, signal: ac.signal })
        setTimeout(() => ac.abort(), afterMs)
        const r = await run.catch((e: Error) => e)
        if (r instanceof Error) assert.ok(afterMs < 300 && r.name === 'AbortError', `aborted after ${afterMs} ms: ${r.message}`)
        else assert.deepEqual([r.timedOut, r.exitSignal], [false, 'SIGKILL'], `aborted after ${afterMs} ms`)
        assert.ok(Date.now() - t0 < 5000)
        const ps = await driver.exec(m.id, { cmd: ['ps'], timeoutMs: 5000, maxBytes: 65536 })
        assert.doesNotMatch(ps.stdout, /sleep 78/, `aborted after ${afterMs} ms: neither the shell nor its sleep is left`)
      }
    })

    test('exec with an already aborted signal runs nothing', T, async (t) => {
      const m = await machine(t, ['sleep', '1000'])
      await driver.start(m.id)
      await assert.rejects(driver.exec(m.id, { cmd: ['touch', '/root/early'], timeoutMs: 5000, maxBytes: 1024, signal: AbortSignal.abort() }), { name: 'AbortError' })
      const ls = await driver.exec(m.id, { cmd: ['ls', '/root'], timeoutMs: 5000, maxBytes: 1024 })
      assert.doesNotMatch(ls.stdout, /early/)
    })

    test('files written in the machine survive stop and start', T, async (t) => {
      const m = await machine(t, ['sleep', '1000'])
      await driver.start(m.id)
      await driver.exec(m.id, { cmd: ['sh', '-c', 'echo kept > /root/note'], timeoutMs: 5000, maxBytes: 1024 })
      await driver.stop(m.id, { signal: 'SIGKILL', graceMs: 0 })
      await driver.start(m.id)
      const r = await driver.exec(m.id, { cmd: ['cat', '/root/note'], timeoutMs: 5000, maxBytes: 1024 })
      assert.equal(r.stdout, 'kept\n')
    })

    test('stop sends the stop signal and returns the exit', T, async (t) => {
      const m = await machine(t, ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.1; done'])
      await driver.start(m.id)
      await sleep(200) // let sh install its trap
      const t0 = Date.now()
      const exit = await driver.stop(m.id, { graceMs: 10_000 })
      assert.equal(exit?.exitCode, 0)
      assert.ok(Date.now() - t0 < 5000)
      assert.equal((await driver.inspect(m.id)).status, 'stopped')
      assert.equal(await driver.stop(m.id, { graceMs: 1000 }), null, 'stop of a stopped machine is a no-op')
    })

    test('stop kills a process that ignores the signal after the grace period', T, async (t) => {
      const m = await machine(t, ['sh', '-c', 'trap "" TERM; while true; do sleep 0.1; done'])
      await driver.start(m.id)
      await sleep(200)
      const t0 = Date.now()
      const exit = await driver.stop(m.id, { graceMs: 700 })
      const took = Date.now() - t0
      assert.ok(took >= 700, `stopped after ${took} ms`)
      assert.equal(exit?.exitCode, 137)
      assert.equal(exit?.signal, 'SIGKILL')
    })

    test('onExit reports the exit code of a process that exits by itself', T, async (t) => {
      const m = await machine(t, ['sh', '-c', 'exit 3'])
      const exited = nextExit(m.id)
      await driver.start(m.id)
      const exit = await exited
      assert.equal(exit.exitCode, 3)
      assert.equal(exit.signal, null)
      assert.equal(exit.oomKilled, false)
      const seen = await driver.inspect(m.id)
      assert.equal(seen.status, 'stopped')
      assert.equal(seen.exit?.exitCode, 3)
    })

    test('a machine over its memory limit is reported oomKilled', T, async (t) => {
      const m = await machine(t, ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'], { guest: { cpus: 1, memoryMb: 16 } })
      const exited = nextExit(m.id)
      await driver.start(m.id)
      const exit = await exited
      assert.equal(exit.oomKilled, true)
      assert.equal(exit.exitCode, 137)
    })

    test('signal, freeze and thaw reach the process', T, async (t) => {
      const m = await machine(t, ['sh', '-c', 'trap "exit 9" USR1; while true; do sleep 0.1; done'])
      await driver.start(m.id)
      await sleep(200)
      await driver.freeze(m.id)
      assert.equal((await driver.inspect(m.id)).status, 'paused')
      await driver.thaw(m.id)
      assert.equal((await driver.inspect(m.id)).status, 'running')
      const exited = nextExit(m.id)
      await driver.signal(m.id, 'USR1')
      assert.equal((await exited).exitCode, 9)
    })

    test('logs returns stdout and stderr lines, tails, and follows until aborted', T, async (t) => {
      const m = await machine(t, ['sh', '-c', 'echo one; echo two >&2; echo three; sleep 0.5; echo four; sleep 1000'])
      await driver.start(m.id)
      const ac = new AbortController()
      const got: string[] = []
      for await (const line of driver.logs(m.id, { follow: true, signal: ac.signal })) {
        got.push(`${line.stream}:${line.message}`)
        if (line.message === 'four') ac.abort()
      }
      // stdout and stderr are separate pipes: order is kept within a stream, not across.
      assert.deepEqual(got.filter((l) => l.startsWith('stdout')), ['stdout:one', 'stdout:three', 'stdout:four'])
      assert.deepEqual(got.filter((l) => l.startsWith('stderr')), ['stderr:two'])
      const all: string[] = []
      for await (const line of driver.logs(m.id, {})) all.push(line.message)
      const tail: string[] = []
      for await (const line of driver.logs(m.id, { tail: 2 })) tail.push(line.message)
      assert.equal(all.length, 4)
      assert.deepEqual(tail, all.slice(-2))
    })

    test('the process runs as the user named in the spec', T, async (t) => {
      const m = await machine(t, ['sleep', '1000'], { process: { args: ['sleep', '1000'], env: [], cwd: '/tmp', user: 'nobody' } })
      await driver.start(m.id)
      const r = await driver.exec(m.id, { cmd: ['sh', '-c', 'id -u; id -G; pwd'], timeoutMs: 5000, maxBytes: 1024 })
      assert.equal(r.stdout, '65534\n65534 50\n/tmp\n')
    })

    test('reconfigure changes the process of a stopped machine and keeps its files', T, async (t) => {
      const m = await machine(t, ['sleep', '1000'])
      await driver.start(m.id)
      await driver.exec(m.id, { cmd: ['touch', '/root/mark'], timeoutMs: 5000, maxBytes: 1024 })
      await assert.rejects(driver.reconfigure(m), { code: 'invalid_state' })
      await driver.stop(m.id, { signal: 'SIGKILL', graceMs: 0 })
      const exited = nextExit(m.id)
      await driver.reconfigure({ ...m, process: { ...m.process, args: ['sh', '-c', 'test -f /root/mark && exit 42'] } })
      await driver.start(m.id)
      assert.equal((await exited).exitCode, 42)
    })

    test('a new driver over the same state adopts running machines and reports exits it missed', T, async (t) => {
      const running = await machine(t, ['sleep', '1000'])
      const quitter = await machine(t, ['sh', '-c', 'sleep 0.5; exit 7'])
      const { pid } = await driver.start(running.id)
      await driver.start(quitter.id)
      await driver.close() // the daemon goes away; machines keep running
      await sleep(1500)
      driver = await opts.newDriver(stateDir, cleanup)
      assert.deepEqual(await driver.inspect(running.id), { status: 'running', pid, exit: null })
      const missed = await driver.inspect(quitter.id)
      assert.equal(missed.status, 'stopped')
      assert.equal(missed.exit?.exitCode, 7)
      const exited = nextExit(running.id)
      await driver.stop(running.id, { signal: 'SIGKILL', graceMs: 0 })
      assert.equal((await exited).exitCode, 137)
    })

    test('destroy removes the machine, is idempotent, and unknown ids are absent', T, async (t) => {
      const m = await machine(t, ['sleep', '1000'])
      await driver.start(m.id)
      await driver.destroy(m.id)
      await driver.destroy(m.id)
      assert.deepEqual(await driver.inspect(m.id), { status: 'absent', pid: null, exit: null })
      assert.ok(!(await driver.list()).includes(m.id))
      await assert.rejects(driver.start(m.id), { code: 'machine_not_found' })
    })
  })
}
