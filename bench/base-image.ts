/**
 * The Debian base image: how long mmdebstrap takes, and how fast Hangar turns
 * its rootfs tar into a machine-ready layer (gzip + import + unpack) next to
 * the disk floor, a plain GNU `tar -x` of the same tar measured in the same run.
 * Import + unpack and the floor alternate over BENCH_ROUNDS (3) rounds; the ratio is their median.
 * Knobs: BENCH_SUITE (bookworm), BENCH_ROOTFS (reuse this rootfs tar, skip mmdebstrap), BENCH_ROUNDS.
 *
 *   node bench/base-image.ts
 */
import { spawnSync } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { join } from 'node:path'
import { openImageStore } from '../src/images/index.ts'
import { hostSources, imageSources } from '../src/images/apt-sources.ts'
import { mmdebstrapRootfs } from '../src/images/base.ts'
import { writeRootfsLayout } from '../src/images/base-layout.ts'
import { median, verdict } from './stats.ts'


const suite = process.env.BENCH_SUITE ?? 'bookworm'
const roundCount = Number(process.env.BENCH_ROUNDS ?? 3)
const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`
const mbps = (bytes: number, ms: number): string => `${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s`

/**
 * Each timed step starts on a quiet disk: the previous step's writeback (and the
 * journal work of removing the last round's 10 000 files) would otherwise land
 * on whichever step comes next.
 */
async function settle(): Promise<void> {
  spawnSync('sync')
  await sleep(1000)
}

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now()
  const r = await f()
  return [r, performance.now() - t0]
}

/** The floor: GNU tar with the flags the layer cache uses, from the page cache into an empty directory. */
function tarFloor(rootfs: string, dir: string): number {
  const t0 = performance.now()
  const r = spawnSync('tar', ['-x', '--numeric-owner', '-p', '--xattrs', '--xattrs-include=*', '-C', dir, '-f', rootfs], { stdio: ['ignore', 'ignore', 'pipe'] })
  if (r.status !== 0) throw new Error(`tar -x: ${r.stderr}`)
  spawnSync('sync', ['-f', dir])
  return performance.now() - t0
}

export async function benchBaseImage(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'hangar-bench-base-'))
  try {
    const rootfs = join(work, 'rootfs.tar')
    let buildMs = NaN
    if (process.env.BENCH_ROOTFS) await copyFile(process.env.BENCH_ROOTFS, rootfs)
    else {
      const sources = imageSources(await hostSources(), suite)
      ;[, buildMs] = await timed(() => mmdebstrapRootfs(rootfs, { suite, sources, created: new Date() }))
    }
    const bytes = (await stat(rootfs)).size
    // Warm the page cache for both sides, so neither pays for the first read.
    spawnSync('cat', [rootfs], { stdio: ['ignore', 'ignore', 'ignore'] })

    const created = new Date()
    const [layout, packMs] = await timed(() => writeRootfsLayout(join(work, 'oci'), rootfs, { tags: ['bench:base'], suite, created, sources: [] }))
    // The shared disk's speed swings from one second to the next: rounds alternate Hangar and the floor,
    // each on fresh directories, and the verdict takes the median of the per-round ratios.
    const rounds: { importMs: number; unpackMs: number; floorMs: number }[] = []
    let layerBytes = 0
    for (let r = 0; r < roundCount; r++) {
      const root = join(work, `store-${r}`)
      const store = await openImageStore({ root })
      await settle()
      const [records, importMs] = await timed(() => store.importFile(layout))
      layerBytes = records[0]!.size
      spawnSync('sync', ['-f', work])
      const [, unpackMs] = await timed(async () => {
        await store.unpack(records[0]!)
        spawnSync('sync', ['-f', work])
      })
      await mkdir(join(work, `floor-${r}`))
      await settle()
      const floorMs = tarFloor(rootfs, join(work, `floor-${r}`))
      rounds.push({ importMs, unpackMs, floorMs })
      await rm(root, { recursive: true, force: true })
      await rm(join(work, `floor-${r}`), { recursive: true, force: true })
    }
    const ratios = rounds.map((x) => x.floorMs / (x.importMs + x.unpackMs))
    const ratio = median(ratios)

    console.log(`\nbase-image: Debian ${suite}, rootfs tar ${(bytes / 1e6).toFixed(1)} MB, layer ${(layerBytes / 1e6).toFixed(1)} MB gzip`)
    console.log(`  mmdebstrap      ${process.env.BENCH_ROOTFS ? 'skipped (BENCH_ROOTFS)' : secs(buildMs)}`)
    console.log(`  gzip layer      ${secs(packMs)}  ${mbps(bytes, packMs)}   (once per build)`)
    rounds.forEach((x, i) => {
      const hangarMs = x.importMs + x.unpackMs
      console.log(`  round ${i + 1}: import+unpack ${secs(hangarMs)} ${mbps(bytes, hangarMs)} (import ${secs(x.importMs)}, check+unpack ${secs(x.unpackMs)}) · floor tar -x + sync ${secs(x.floorMs)} ${mbps(bytes, x.floorMs)} · ${ratios[i]!.toFixed(2)}×`)
    })
    console.log(`  ratio           ${ratio.toFixed(2)}× the floor's throughput, median of ${rounds.length} rounds (target ≥ 0.5×: ${verdict(ratio >= 0.5)})`)
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

if (import.meta.main) await benchBaseImage()
