/**
 * Checkpoint, restore and fork through Hangar's API on a stopped machine whose
 * disk holds 20 MB, 200 MB and 2 GB of changes, next to the floor measured in
 * the same run: `cp -a` of the same upper dir on the same filesystem. Then a
 * checkpoint of a running machine with nothing and with 20 MB changed since its
 * last one, ten forks of one checkpoint in one call (to all ten started), and
 * the durability soak. Targets: checkpoint ≤ 50 ms, restore ≤ 100 ms, fork ≤
 * 100 ms (flat across sizes); ten forks p95 < 1 s; soak 0 lost, 0 false successes.
 * Knobs: BENCH_ROUNDS (5), BENCH_SIZES_MB (20,200,2000), BENCH_FORK_ROUNDS (5), BENCH_SOAK_CYCLES (1000).
 *
 *   ./hangar bench checkpoints
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { soak } from '../test/support/soak.ts'
import { benchDaemon } from './bench-daemon.ts'
import { median, ms, percentile, verdict } from './stats.ts'

const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
const sizesMb = (process.env.BENCH_SIZES_MB ?? '20,200,2000').split(',').filter(Boolean).map(Number)
const forkRounds = Number(process.env.BENCH_FORK_ROUNDS ?? 5)
const soakCycles = Number(process.env.BENCH_SOAK_CYCLES ?? 1000)
const app = 'bench'
const sleeper = { image: 'busybox:latest', init: { exec: ['sleep', '100000'] } }

/** `cp -a` of the upper (flushed first, so neither side pays the other's writeback), then removed. */
function copyMs(from: string, to: string, flags: string[]): number {
  spawnSync('sync')
  const t0 = performance.now()
  const c = spawnSync('cp', ['-a', ...flags, from, to])
  const took = performance.now() - t0
  if (c.status !== 0) throw new Error(`cp -a failed: ${c.stderr}`)
  spawnSync('rm', ['-rf', to])
  return took
}

/** Each timed step starts on a quiet disk: the writeback of what came before is not its cost. */
async function timed(f: () => Promise<unknown>): Promise<number> {
  spawnSync('sync')
  await new Promise((r) => setTimeout(r, 200))
  const t0 = performance.now()
  await f()
  return performance.now() - t0
}

export async function benchCheckpoints(): Promise<void> {
  const b = await benchDaemon(['--machines-fs-size', '12G', '--rootfs-size', '3G', '--disk-overcommit', '16', '--checkpoint-retention', '1000'])
  const hm = b.client.machines
  const disks = join(b.dataDir, 'runtime', 'disks')
  try {
    await b.client.apps.create(app)
    console.log(`checkpoints: stopped machine, median of ${rounds} rounds; floor = cp -a of the same upper on the same btrfs`)
    for (const mb of sizesMb) {
      const m = await hm.create(app, { config: sleeper })
      await hm.wait(app, m.id, { state: ['started'] })
      // Ten files of random bytes: what a robot's installs and builds leave behind.
      const each = Math.ceil(mb / 10)
      const w = await hm.exec(app, m.id, { command: ['sh', '-c', `mkdir /data && for i in 0 1 2 3 4 5 6 7 8 9; do dd if=/dev/urandom of=/data/f$i bs=1M count=${each} 2>/dev/null || exit 1; done`], timeout: 600 })
      if (w.exit_code !== 0) throw new Error(`filling the disk failed: ${w.stderr}`)
      await hm.stop(app, m.id)
      await hm.wait(app, m.id, { state: ['stopped'] })
      const upper = join(disks, 'machines', m.id, 'upper')
      const cps: number[] = []
      const restores: number[] = []
      const forks: number[] = []
      const floor: number[] = []
      const fullCopy: number[] = []
      // The floors first, then a pause: deleting their copies keeps btrfs busy for a while, and
      // that cleanup must not land on Hangar's timings.
      for (let r = 0; r < rounds; r++) {
        floor.push(copyMs(upper, join(disks, `floor-${r}`), []))
        fullCopy.push(copyMs(upper, join(disks, `floor-${r}`), ['--reflink=never']))
      }
      spawnSync('sync')
      await new Promise((r) => setTimeout(r, 5000))
      for (let r = 0; r < rounds; r++) {
        let id = ''
        cps.push(await timed(async () => { id = (await hm.checkpoint(app, m.id)).id }))
        restores.push(await timed(() => hm.restore(app, m.id, id)))
        let fork = ''
        forks.push(await timed(async () => { fork = (await hm.fork(app, m.id, { checkpoint: id, skip_launch: true })).id }))
        await hm.destroy(app, fork, { force: true })
      }
      const f = median(floor)
      const full = median(fullCopy)
      const line = (what: string, xs: number[], target: number): string =>
        `  ${what} ${ms(median(xs))} (${(median(xs) / f).toFixed(2)}× cp -a, ${(median(xs) / full).toFixed(3)}× a full copy) — ${verdict(median(xs) <= target)} (≤ ${target} ms)`
      console.log(`${mb} MB of changes: floor cp -a ${ms(f)} (reflinks, as coreutils does on btrfs); cp -a --reflink=never ${ms(full)}`)
      console.log(line('checkpoint', cps, 50))
      console.log(line('restore   ', restores, 100))
      console.log(line('fork      ', forks, 100))
      await hm.destroy(app, m.id, { force: true })
    }

    const m = await hm.create(app, { config: sleeper })
    await hm.wait(app, m.id, { state: ['started'] })
    await hm.checkpoint(app, m.id)
    const idle: number[] = []
    const dirty: number[] = []
    for (let r = 0; r < rounds; r++) {
      idle.push(await timed(() => hm.checkpoint(app, m.id)))
      await hm.exec(app, m.id, { command: ['sh', '-c', `dd if=/dev/urandom of=/dirty${r} bs=1M count=20 2>/dev/null`] })
      dirty.push(await timed(() => hm.checkpoint(app, m.id)))
    }
    console.log(`running machine: checkpoint with nothing changed ${ms(median(idle))}, with 20 MB written since the last ${ms(median(dirty))}`)

    const base = await hm.checkpoint(app, m.id, { comment: 'seed' })
    const tens: number[] = []
    for (let r = 0; r < forkRounds; r++) {
      let made: { id: string; state: string }[] = []
      tens.push(await timed(async () => { made = await hm.fork(app, m.id, { checkpoint: base.id, count: 10 }) }))
      if (made.some((x) => x.state !== 'started')) throw new Error(`not all forks started: ${made.map((x) => x.state).join(',')}`)
      for (const x of made) await hm.destroy(app, x.id, { force: true })
    }
    console.log(`10 forks of one checkpoint in one call, all started: p50 ${ms(percentile(tens, 50))}, p95 ${ms(percentile(tens, 95))} over ${forkRounds} — ${verdict(percentile(tens, 95) < 1000)} (p95 < 1 s)`)

    if (soakCycles > 0) {
      const t0 = performance.now()
      const report = await soak(b.client, app, m.id, soakCycles, (n) => { if (n % 100 === 0) console.log(`  soak: ${n} cycles`) })
      const ok = report.lostFiles === 0 && report.falseSuccesses === 0
      console.log(`soak: ${report.cycles} cycles in ${((performance.now() - t0) / 1000).toFixed(0)} s, ${report.checks} file comparisons, ${report.lostFiles} files lost, ${report.falseSuccesses} false successes, ${report.failures.length} failed calls — ${verdict(ok)}`)
      for (const f of report.failures.slice(0, 5)) console.log(`  failed: ${f}`)
    }
  } finally {
    await b.close()
  }
}
