/**
 * Pushing a big image through /v2 with Hangar's push client and skopeo, each
 * from a process of its own (as a real push is), in MB/s, next to the disk
 * floor: `cp` of the same bytes, then `sync` of those files (the registry fsyncs
 * every blob), measured in the same run. The image is BENCH_REGISTRY_LAYERS (4)
 * layers of BENCH_REGISTRY_LAYER_MB (256) MiB of incompressible bytes, stored
 * uncompressed; the registry never looks inside a layer, so they need not be tars.
 *
 * The disk is shared and its speed moves from minute to minute, so floor and push
 * are measured interleaved, BENCH_REGISTRY_ROUNDS (3) rounds of floor then push,
 * and the verdict is on the median of the rounds' ratios. Before each timed step
 * the filesystem is synced and left alone for BENCH_REGISTRY_SETTLE_S (3) seconds:
 * on the VM this was written on, how fast the page cache fills depends on how
 * recently memory was freed (a copy right after deleting a gigabyte ran 3–5×
 * faster than one a few seconds later), so each step starts from the same state
 * instead of inheriting the one before it; and one untimed push comes first, so the
 * first round follows the same steps as the others.
 * Disk use peaks at about twice the image; everything is removed at the end.
 */
import { execFile, spawn } from 'node:child_process'
import { createCipheriv, createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { createWriteStream } from 'node:fs'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { promisify } from 'node:util'
import { join } from 'node:path'
// Only the push client's own modules load statically: the child that pushes imports this file, and
// loading the daemon's code (bench-daemon.ts) there would add a third of a second to every push timed.
import { pushImage } from '../src/images/push.ts'
import { median, verdict } from './stats.ts'
import { openImageStore } from '../src/images/store.ts'

/** The registries these tests and benches use run on loopback, which pulls and pushes refuse unless allowed. */
const loopback = ['127.0.0.0/8', '::1/128']

const layers = Number(process.env.BENCH_REGISTRY_LAYERS ?? 4)
const layerMb = Number(process.env.BENCH_REGISTRY_LAYER_MB ?? 256)
const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

/** `bytes` of AES-CTR keystream (fast, and no compressor or dedup shortcut helps) into blobs/, returning the digest. */
async function writeLayer(blobs: string, bytes: number): Promise<{ digest: string; size: number }> {
  const tmp = join(blobs, 'layer.tmp')
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16))
  const hash = createHash('sha256')
  const out = createWriteStream(tmp)
  const zeros = Buffer.alloc(1 << 20)
  for (let left = bytes; left > 0; left -= zeros.length) {
    const chunk = cipher.update(zeros.subarray(0, Math.min(zeros.length, left)))
    hash.update(chunk)
    if (!out.write(chunk)) await once(out, 'drain')
  }
  await new Promise<void>((r, j) => out.end((e?: Error | null) => (e ? j(e) : r())))
  const digest = `sha256:${hash.digest('hex')}`
  await rename(tmp, join(blobs, digest.slice(7)))
  return { digest, size: bytes }
}

/** An OCI layout with one image of `layers` uncompressed layers. */
async function buildLayout(dir: string): Promise<string[]> {
  const blobs = join(dir, 'blobs', 'sha256')
  await mkdir(blobs, { recursive: true })
  const ls: { digest: string; size: number }[] = []
  for (let i = 0; i < layers; i++) ls.push(await writeLayer(blobs, layerMb << 20))
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['true'] }, rootfs: { type: 'layers', diff_ids: ls.map((l) => l.digest) } }))
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
    layers: ls.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l })),
  }))
  await writeFile(join(blobs, sha(config).slice(7)), config)
  await writeFile(join(blobs, sha(manifest).slice(7)), manifest)
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'big' } }] }))
  return ls.map((l) => join(blobs, l.digest.slice(7)))
}

// Async: the daemon runs in this process, so a synchronous child would block the server it talks to.
const run = promisify(execFile)

/**
 * The push client runs in a process of its own, as a real push comes from another process or host:
 * in this one it would share the event loop with the daemon it pushes to and measure both at once.
 */
async function pushInChild(store: string, ref: string, dest: string, token: string, compileCache: string): Promise<void> {
  const child = spawn(process.execPath, [...process.execArgv.filter((a) => !a.startsWith('--cpu-prof')), ...(process.env.BENCH_REGISTRY_CLIENT_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_REGISTRY_CLIENT_PROF}`] : []), import.meta.filename, '--push', store, ref, dest], {
    stdio: ['ignore', 'inherit', 'inherit'],
    // Type stripping and compiling the client's modules (~0.13 s of a ~0.23 s start) is paid once, in the
    // untimed push, not in every timed one: what is timed is the push, not compiling its client.
    env: { ...process.env, BENCH_REGISTRY_TOKEN: token, NODE_COMPILE_CACHE: compileCache },
  })
  const [code] = (await once(child, 'exit')) as [number | null]
  if (code !== 0) throw new Error(`the push client exited with ${code}`)
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now()
  await fn()
  return (performance.now() - t0) / 1000
}

export async function benchRegistry(): Promise<void> {
  const { benchDaemon } = await import('./bench-daemon.ts')
  const rounds = Math.max(1, Number(process.env.BENCH_REGISTRY_ROUNDS ?? 3))
  const work = await mkdtemp(join(tmpdir(), 'hangar-bench-registry-'))
  const d = await benchDaemon()
  try {
    const ds = await buildLayout(join(work, 'layout'))
    const bytes = layers * (layerMb << 20)
    const token = (await readFile(join(d.dataDir, 'root-token'), 'utf8')).trim()
    const local = await openImageStore({ root: join(work, 'store'), pullAllow: loopback })
    await local.importFile(join(work, 'layout'), { tag: 'big:1' })
    await rm(join(work, 'layout'), { recursive: true, force: true }) // keep disk use at about twice the image
    // The floor copies the same bytes the push client sends: the layers as they sit in its store.
    const files = ds.map((f) => local.content.path(`sha256:${f.split('/').pop()!}`))
    const host = new URL(d.daemon.url).host
    const daemonBlobs = join(d.dataDir, 'images', 'blobs', 'sha256')
    // Nothing left dirty by the previous step is charged to the next, and each starts from a quiet machine.
    const settleS = Number(process.env.BENCH_REGISTRY_SETTLE_S ?? 3)
    const settle = async (): Promise<void> => {
      await run('sync', ['-f', d.dataDir])
      await new Promise((r) => setTimeout(r, settleS * 1000))
    }
    /** Floor: the same bytes copied on the same filesystem as the daemon's store, then those files and their directory made durable. */
    const floor = async (): Promise<{ s: number; cpS: number }> => {
      const copy = join(d.dataDir, 'floor')
      await mkdir(copy)
      await settle()
      let cpS = 0
      const s = await timed(async () => {
        cpS = await timed(() => run('cp', [...files, copy]))
        await run('sync', [...files.map((f) => join(copy, f.split('/').pop()!)), copy])
      })
      await rm(copy, { recursive: true, force: true })
      return { s, cpS }
    }
    /** Hangar's push client, from a process of its own: per blob HEAD, POST, one PUT as it is on disk, three blobs at a time. */
    const push = async (): Promise<{ s: number; listed: boolean }> => {
      await settle()
      if (process.env.BENCH_REGISTRY_MARK) console.error(`push window (µs, monotonic): ${process.hrtime.bigint() / 1000n}`)
      const s = await timed(() => pushInChild(join(work, 'store'), 'big:1', `${host}/bench/big:1`, token, join(work, 'compile-cache')))
      if (process.env.BENCH_REGISTRY_MARK) console.error(`push window end: ${process.hrtime.bigint() / 1000n}`)
      const listed = (await d.client.images.list()).some((i) => i.ref === 'bench/big:1')
      await d.client.images.remove('bench/big:1')
      for (const f of files) await rm(join(daemonBlobs, f.split('/').pop()!), { force: true })
      return { s, listed }
    }
    // One untimed push first: the daemon's upload path is then as warm as a running daemon's (JIT, writer
    // thread), and every timed round comes after the same steps (a push, then its removal).
    await push()
    // Interleaved, round by round: each round's ratio compares two neighbouring measurements.
    const results: { floorS: number; cpS: number; pushS: number; listed: boolean }[] = []
    for (let r = 0; r < rounds; r++) {
      const f = await floor()
      const p = await push()
      results.push({ floorS: f.s, cpS: f.cpS, pushS: p.s, listed: p.listed })
    }
    // skopeo: containers/image gzips uncompressed layers for a registry, so this adds its compression time.
    let skopeoS: number | null = null
    let skopeoFloorS: number | null = null
    if (process.env.BENCH_REGISTRY_SKOPEO !== '0') {
      skopeoFloorS = (await floor()).s
      await settle()
      skopeoS = await timed(() =>
        run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `x:${token}`, `oci:${join(work, 'store')}:big:1`, `docker://${host}/bench/big:2`]))
    }
    const mbs = (s: number): string => `${(bytes / 1e6 / s).toFixed(0).padStart(4)} MB/s`
    const ratios = results.map((r) => r.floorS / r.pushS)
    const ratio = median(ratios)
    console.log(`\nregistry: push of ${layers} × ${layerMb} MiB uncompressed layers (${(bytes / 2 ** 30).toFixed(2)} GiB) into /v2, ${rounds} round${rounds > 1 ? 's' : ''} of floor then push`)
    results.forEach((r, i) => {
      console.log(`  round ${i + 1}  push client ${mbs(r.pushS)} (${r.pushS.toFixed(2)} s)  floor ${mbs(r.floorS)} (${r.floorS.toFixed(2)} s: cp ${r.cpS.toFixed(2)} + sync ${(r.floorS - r.cpS).toFixed(2)})  ratio ${ratios[i]!.toFixed(2)}×${r.listed ? '' : '  — image NOT listed afterwards'}`)
    })
    console.log(`  floor        cp + sync of the same files on the same filesystem, just before each push; each step after a sync and ${settleS} s idle`)
    console.log(skopeoS === null
      ? '  skopeo       skipped (BENCH_REGISTRY_SKOPEO=0)'
      : `  skopeo       ${mbs(skopeoS)} (${skopeoS.toFixed(2)} s; skopeo gzips each layer on the way)  floor ${mbs(skopeoFloorS!)}  ratio ${(skopeoFloorS! / skopeoS).toFixed(2)}×`)
    console.log(`  ratio        median ${ratio.toFixed(2)}× the floor's throughput with the push client, worst ${Math.min(...ratios).toFixed(2)}× (target ≥ 0.5×: ${verdict(ratio >= 0.5)})`)
  } finally {
    await d.close()
    await rm(work, { recursive: true, force: true })
  }
}

if (import.meta.main && process.argv[2] === '--push') {
  const [store, ref, dest] = process.argv.slice(3) as [string, string, string]
  await pushImage(await openImageStore({ root: store, pullAllow: loopback }), ref, dest, { credentials: { username: 'x', password: process.env.BENCH_REGISTRY_TOKEN ?? '' } })
} else if (import.meta.main) await benchRegistry()
