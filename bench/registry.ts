/**
 * Pushing a big image through /v2 with Hangar's push client and skopeo, each
 * from a process of its own (as a real push is), in MB/s, next to the disk
 * floor: `cp` of the same bytes (then `sync`, since the registry fsyncs every
 * blob) measured in the same run. The image is BENCH_REGISTRY_LAYERS (4) layers
 * of BENCH_REGISTRY_LAYER_MB (256) MiB of incompressible bytes, stored
 * uncompressed; the registry never looks inside a layer, so they need not be tars.
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
import { openImageStore, pushImage } from '../src/images/index.ts'
import { benchDaemon } from './bench-daemon.ts'
import { verdict } from './stats.ts'

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
async function pushInChild(store: string, ref: string, dest: string, token: string): Promise<void> {
  const child = spawn(process.execPath, [...process.execArgv.filter((a) => !a.startsWith('--cpu-prof')), ...(process.env.BENCH_REGISTRY_CLIENT_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_REGISTRY_CLIENT_PROF}`] : []), import.meta.filename, '--push', store, ref, dest], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, BENCH_REGISTRY_TOKEN: token },
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
  const work = await mkdtemp(join(tmpdir(), 'hangar-bench-registry-'))
  const d = await benchDaemon()
  try {
    const files = await buildLayout(join(work, 'layout'))
    const bytes = layers * (layerMb << 20)
    const token = (await readFile(join(d.dataDir, 'root-token'), 'utf8')).trim()
    // Floor: the same bytes copied on the same filesystem as the daemon's store, made durable.
    const copy = join(d.dataDir, 'floor')
    await mkdir(copy)
    const floorS = await timed(async () => {
      await run('cp', [...files, copy])
      await run('sync', ['-f', copy])
    })
    await rm(copy, { recursive: true, force: true })
    const host = new URL(d.daemon.url).host
    // Hangar's push client: HEAD, POST, one PUT of each blob as it is on disk.
    const local = await openImageStore({ root: join(work, 'store') })
    await local.importFile(join(work, 'layout'), { tag: 'big:1' })
    await rm(join(work, 'layout', 'blobs'), { recursive: true, force: true }) // keep disk use at about twice the image
    if (process.env.BENCH_REGISTRY_MARK) console.error(`push window (µs, monotonic): ${process.hrtime.bigint() / 1000n}`)
    const clientS = await timed(() => pushInChild(join(work, 'store'), 'big:1', `${host}/bench/big:1`, token))
    if (process.env.BENCH_REGISTRY_MARK) console.error(`push window end: ${process.hrtime.bigint() / 1000n}`)
    const listed = (await d.client.images.list()).some((i) => i.ref === 'bench/big:1')
    await d.client.images.remove('bench/big:1')
    for (const f of files) await rm(join(d.dataDir, 'images', 'blobs', 'sha256', f.split('/').pop()!), { force: true })
    // skopeo: containers/image gzips uncompressed layers for a registry, so this adds its compression time.
    const pushS = process.env.BENCH_REGISTRY_SKOPEO === '0' ? NaN : await timed(() =>
      run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `x:${token}`, `oci:${join(work, 'store')}:big:1`, `docker://${host}/bench/big:2`]))
    const mbs = (s: number): string => `${(bytes / 1e6 / s).toFixed(0)} MB/s`
    const ratio = floorS / clientS
    console.log(`\nregistry: push of ${layers} × ${layerMb} MiB uncompressed layers (${(bytes / 2 ** 30).toFixed(2)} GiB) into /v2`)
    console.log(`  push client  ${mbs(clientS)}  (${clientS.toFixed(2)} s)${listed ? '' : '  — image NOT listed afterwards'}`)
    console.log(`  skopeo       ${mbs(pushS)}  (${pushS.toFixed(2)} s; skopeo gzips each layer on the way)`)
    console.log(`  floor        ${mbs(floorS)}  (${floorS.toFixed(2)} s; cp + sync of the same files, same filesystem)`)
    console.log(`  ratio        ${ratio.toFixed(2)}× the floor's throughput with the push client (target ≥ 0.5×: ${verdict(ratio >= 0.5)}); skopeo ${(floorS / pushS).toFixed(2)}×`)
  } finally {
    await d.close()
    await rm(work, { recursive: true, force: true })
  }
}

if (import.meta.main && process.argv[2] === '--push') {
  const [store, ref, dest] = process.argv.slice(3) as [string, string, string]
  await pushImage(await openImageStore({ root: store }), ref, dest, { credentials: { username: 'x', password: process.env.BENCH_REGISTRY_TOKEN ?? '' } })
} else if (import.meta.main) await benchRegistry()
