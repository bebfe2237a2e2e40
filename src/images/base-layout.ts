/**
 * A root filesystem tar → a one-layer OCI image layout directory (gzip layer,
 * config, manifest, index.json naming each tag), which the store then imports
 * like any other layout. One pass over the tar hashes both the diff id and
 * the compressed blob.
 *
 *   const dir = await writeRootfsLayout('/tmp/x/oci', 'rootfs.tar', { tags: ['debian:bookworm'], suite: 'bookworm', created: new Date(), sources })
 */
import { createHash, type Hash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, rename, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import type { BuildProgress } from './base-progress.ts'
import { mediaTypes, refNameAnnotation } from './oci.ts'

export interface LayoutMeta {
  tags: string[]
  suite: string
  created: Date
  /** The apt sources the image points at, recorded as a label. */
  sources: string[]
  onProgress?: (p: BuildProgress) => void
}

/**
 * What a machine from the base image runs when given no command: tini reaping
 * zombies under a process that never exits. `-s` (subreaper) because Hangar's
 * runtime may already put its own init at PID 1; tini then still reaps its
 * subtree instead of warning that it is not PID 1. Elsewhere it is PID 1 itself.
 */
export const baseImageConfig = {
  Entrypoint: ['/usr/bin/tini', '-s', '--'],
  Cmd: ['sleep', 'infinity'],
  Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
  WorkingDir: '/root',
}

const ociArch: Record<string, string> = { x64: 'amd64', arm64: 'arm64' }

export async function writeRootfsLayout(dir: string, rootfsTar: string, meta: LayoutMeta): Promise<string> {
  const blobs = join(dir, 'blobs', 'sha256')
  await mkdir(blobs, { recursive: true })
  const put = async (bytes: Buffer): Promise<{ digest: string; size: number }> => {
    const hex = createHash('sha256').update(bytes).digest('hex')
    await writeFile(join(blobs, hex), bytes)
    return { digest: `sha256:${hex}`, size: bytes.length }
  }

  const layer = await gzipLayer(rootfsTar, blobs, meta.onProgress)
  const created = meta.created.toISOString()
  const config = {
    created,
    architecture: ociArch[process.arch] ?? process.arch,
    os: 'linux',
    config: {
      ...baseImageConfig,
      Labels: {
        'org.opencontainers.image.created': created,
        'org.opencontainers.image.title': `Debian ${meta.suite} (Hangar base)`,
        'io.hangar.base.suite': meta.suite,
        'io.hangar.base.sources': meta.sources.join('\n'),
      },
    },
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    history: [{ created, created_by: `mmdebstrap --variant=apt ${meta.suite}` }],
  }
  const configDesc = await put(Buffer.from(JSON.stringify(config)))
  const manifest = {
    schemaVersion: 2,
    mediaType: mediaTypes.manifest,
    config: { mediaType: mediaTypes.config, ...configDesc },
    layers: [{ mediaType: mediaTypes.layerGzip, digest: layer.digest, size: layer.size }],
  }
  const manifestDesc = { mediaType: mediaTypes.manifest, ...(await put(Buffer.from(JSON.stringify(manifest)))) }
  const index = {
    schemaVersion: 2,
    mediaType: mediaTypes.index,
    manifests: meta.tags.map((t) => ({ ...manifestDesc, annotations: { [refNameAnnotation]: t } })),
  }
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}\n')
  await writeFile(join(dir, 'index.json'), JSON.stringify(index))
  return dir
}

/** Compresses the tar into blobs/, hashing the plain bytes (diff id) and the gzip bytes (digest) on the way. */
async function gzipLayer(rootfsTar: string, blobs: string, onProgress?: (p: BuildProgress) => void): Promise<{ digest: string; diffId: string; size: number }> {
  const total = (await stat(rootfsTar)).size
  const plain = createHash('sha256')
  const packed = createHash('sha256')
  let read = 0
  let size = 0
  let lastPercent = -1
  const tmp = join(blobs, 'layer.tmp')
  await pipeline(
    createReadStream(rootfsTar, { highWaterMark: 1 << 20 }),
    tap(plain, (n) => {
      read += n
      const percent = Math.floor((read / total) * 10) * 10
      if (percent !== lastPercent) onProgress?.({ phase: 'packing', message: 'compressing the layer', percent: (lastPercent = percent) })
    }),
    // Level 6 (zlib's default): level 9 saves ~2% for twice the time.
    createGzip({ level: 6 }),
    tap(packed, (n) => (size += n)),
    createWriteStream(tmp),
  )
  const hex = packed.digest('hex')
  await rename(tmp, join(blobs, hex))
  return { digest: `sha256:${hex}`, diffId: `sha256:${plain.digest('hex')}`, size }
}

function tap(hash: Hash, count: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk)
      count(chunk.length)
      cb(null, chunk)
    },
  })
}
