/**
 * Stopped → started → first HTTP response from the machine's own server, through
 * Hangar's API, next to the floor: bare `runc create` + `runc start` of the same
 * bundle (same rootfs, same network namespace) measured in the same run. Also:
 * create from a cached image, and host memory per running machine beyond the app.
 * Knobs: BENCH_CYCLES (default 50), BENCH_CREATES (20), BENCH_MACHINES (10).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { benchDaemon, firstResponse } from './bench-daemon.ts'
import { ms, summary, verdict } from './stats.ts'

const cycles = Number(process.env.BENCH_CYCLES ?? 50)
const creates = Number(process.env.BENCH_CREATES ?? 20)
const machinesForMemory = Number(process.env.BENCH_MACHINES ?? 10)
const app = 'bench'

function pssKb(pid: number): number {
  const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))
  return m ? Number(m[1]) : NaN
}

async function floorCycles(machineDir: string, url: string): Promise<number[]> {
  const bundle = await mkdtemp(join(tmpdir(), 'hangar-floor-'))
  const root = join(bundle, 'runc-root')
  const config = JSON.parse(await readFile(join(machineDir, 'config.json'), 'utf8'))
  // The rootfs is mounted outside the bundle (an absolute path): the floor starts the very same mount.
  if (!String(config.root.path).startsWith('/')) config.root.path = join(machineDir, config.root.path)
  config.linux.cgroupsPath = '/hangar-bench-floor'
  // Same mounts, but by absolute path since the bundle moved.
  for (const m of config.mounts) if (typeof m.source === 'string' && !m.source.startsWith('/') && m.type === 'bind') m.source = join(machineDir, m.source)
  await writeFile(join(bundle, 'config.json'), JSON.stringify(config))
  // No pipes: the container would inherit them and spawnSync would wait for it to exit.
  const runc = (...args: string[]) => spawnSync('runc', ['--root', root, ...args], { stdio: 'ignore' })
  const samples: number[] = []
  try {
    for (let i = 0; i < cycles; i++) {
      const t0 = performance.now()
      const c = runc('create', '--bundle', bundle, 'floor')
      if (c.status !== 0) throw new Error(`runc create exited ${c.status}`)
      runc('start', 'floor')
      await firstResponse(url)
      samples.push(performance.now() - t0)
      runc('kill', 'floor', 'KILL')
      runc('delete', '--force', 'floor')
    }
  } finally {
    runc('delete', '--force', 'floor')
    await rm(bundle, { recursive: true, force: true })
  }
  return samples
}

export async function benchStart(): Promise<void> {
  const b = await benchDaemon()
  const hm = b.client.machines
  try {
    await b.client.apps.create(app)
    const createMs: number[] = []
    for (let i = 0; i < creates; i++) {
      const t0 = performance.now()
      const m = await hm.create(app, { skip_launch: true, config: { image: 'busybox:latest' } })
      createMs.push(performance.now() - t0)
      await hm.destroy(app, m.id)
    }

    const m = await hm.create(app, { name: 'web', config: { image: 'busybox:latest', init: { exec: ['httpd', '-f', '-p', '8080', '-h', '/www'] } } })
    const url = `http://${m.private_ip}:8080/`
    await firstResponse(url)
    const hangarMs: number[] = []
    for (let i = 0; i < cycles; i++) {
      await hm.stop(app, m.id)
      const t0 = performance.now()
      await hm.start(app, m.id)
      await firstResponse(url)
      hangarMs.push(performance.now() - t0)
    }
    await hm.stop(app, m.id)
    const floorMs = await floorCycles(join(b.dataDir, 'runtime', 'machines', m.id), url)

    const running = []
    for (let i = 0; i < machinesForMemory; i++) running.push(await hm.create(app, { config: { image: 'busybox:latest' } }))
    // Beyond the app, each machine costs its conmon and its init (tini, PID 1 in the machine).
    const overheadKb = running.map((r) => {
      const conmon = Number(readFileSync(join(b.dataDir, 'runtime', 'machines', r.id, 'conmon.pid'), 'utf8'))
      const init = Number(execFileSync('ps', ['-o', 'pid=', '--ppid', String(conmon)], { encoding: 'utf8' }).trim().split(/\s+/)[0])
      return pssKb(conmon) + pssKb(init)
    })
    const perMachineKb = overheadKb.reduce((a, x) => a + x, 0) / overheadKb.length
    const h = summary(hangarMs)
    const f = summary(floorMs)
    const c = summary(createMs)
    const ratio = h.p50 / f.p50
    console.log(`\nstart: stopped → started → first HTTP response (${cycles} cycles, through the REST API)`)
    console.log(`  hangar   p50 ${ms(h.p50)}  p99 ${ms(h.p99)}  min ${ms(h.min)}`)
    console.log(`  floor    p50 ${ms(f.p50)}  p99 ${ms(f.p99)}  min ${ms(f.min)}   (bare runc create + runc start, same bundle)`)
    console.log(`  ratio    ${ratio.toFixed(2)}× the floor (target ≤ 1.5×: ${verdict(ratio <= 1.5)}); p50 ≤ 60 ms: ${verdict(h.p50 <= 60)}`)
    console.log(`create from a cached image (${creates} runs, skip_launch)`)
    console.log(`  p50 ${ms(c.p50)}  p99 ${ms(c.p99)}   (target p50 ≤ 400 ms: ${verdict(c.p50 <= 400)})`)
    console.log(`host memory per running machine beyond the app (${machinesForMemory} machines)`)
    console.log(`  conmon + init PSS ${(perMachineKb / 1024).toFixed(2)} MB per machine; no Node process per machine   (target ≤ 3 MB: ${verdict(perMachineKb / 1024 <= 3)})`)
  } finally {
    await b.close()
  }
}

if (import.meta.main) await benchStart()
