/**
 * Rough start-latency measurement (not a test): stopped → started → first HTTP
 * response through the runc driver, beside bare `runc create` + `runc start`
 * of the identical bundle from the same process. Run as root:
 *
 *   node test/integration/runtime/measure-start.ts [rounds]
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRuncDriver } from '../../../src/runtime/index.ts'
import { busyboxLayer, machineSpec, testNetwork } from '../../support/runtime.ts'

const rounds = Number(process.argv[2] ?? 10)
const cleanups: (() => void)[] = []
const t = { after: (f: () => void) => void cleanups.push(f) }

function sh(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: 'ignore' })
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: ${code}`))))
  })
}

async function firstResponse(url: string): Promise<void> {
  for (;;) {
    try {
      await (await fetch(url)).text()
      return
    } catch {
      await new Promise((r) => setTimeout(r, 1))
    }
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN

try {
  const stateDir = mkdtempSync(join(tmpdir(), 'hangar-measure-'))
  cleanups.push(() => rmSync(stateDir, { recursive: true, force: true }))
  const driver = await createRuncDriver({ stateDir, network: testNetwork(t) })
  const spec = machineSpec(busyboxLayer(t), ['httpd', '-f', '-p', '8080', '-h', '/www'])
  const net = await driver.create(spec)
  const url = `http://${net.ipv4}:8080/`
  const bundle = join(stateDir, 'machines', spec.id)
  const bareRoot = join(stateDir, 'bare-runc')
  const hangar = { start: [] as number[], http: [] as number[] }
  const bare = { start: [] as number[], http: [] as number[] }
  for (let i = 0; i < rounds; i++) {
    let t0 = performance.now()
    await driver.start(spec.id)
    hangar.start.push(performance.now() - t0)
    await firstResponse(url)
    hangar.http.push(performance.now() - t0)
    await driver.stop(spec.id, { signal: 'SIGKILL', graceMs: 0 })

    t0 = performance.now()
    await sh('/usr/sbin/runc', ['--root', bareRoot, 'create', '--bundle', bundle, `bare${i}`])
    await sh('/usr/sbin/runc', ['--root', bareRoot, 'start', `bare${i}`])
    bare.start.push(performance.now() - t0)
    await firstResponse(url)
    bare.http.push(performance.now() - t0)
    await sh('/usr/sbin/runc', ['--root', bareRoot, 'delete', '--force', `bare${i}`])
  }
  await driver.destroy(spec.id)
  await driver.close()
  const f = (n: number): string => n.toFixed(1)
  console.log(`rounds ${rounds} (medians, ms)`)
  console.log(`hangar start ${f(median(hangar.start))}  to first response ${f(median(hangar.http))}`)
  console.log(`bare   start ${f(median(bare.start))}  to first response ${f(median(bare.http))}`)
  console.log(`ratio (first response) ${(median(hangar.http) / median(bare.http)).toFixed(2)}`)
} finally {
  for (const c of cleanups.reverse()) c()
}
