/**
 * Test images built in Node from the host's static /bin/busybox: an OCI archive
 * (or layout dir) and a `docker save` tarball, byte-for-byte reproducible, plus
 * a raw tar writer for hostile layers. Nothing is pulled from anywhere.
 *
 *   const { path, ref } = await buildBusyboxImage(dir)            // <dir>/busybox.oci.tar, 'busybox:latest'
 *   const multi = await buildBusyboxImage(dir, { multiLayer: true, format: 'oci-dir' })
 */
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { gzipSync, zstdCompressSync } from 'node:zlib'
import { Header, type HeaderData } from 'tar'
import { openImageStore, type ImageStore } from '../../src/images/index.ts'

export interface TarEntry {
  path: string
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice'
  body?: Buffer | string
  mode?: number
  linkpath?: string
  /** Write `body` and its size even for links and directories (malformed tars for the hostile-layer tests). */
  forceBody?: boolean
}

export interface BuiltImage {
  /** The archive file (or layout directory). */
  path: string
  /** The name the archive gives the image, e.g. "busybox:latest". */
  ref: string
  /** Digest of the linux/amd64 manifest; for docker save, of the manifest Hangar will write. */
  manifestDigest: string | null
}

export interface BusyboxOptions {
  /** Adds a second layer: deletes /etc/motd (whiteout), replaces /opaque (opaque dir), hard links /data/link → /data/file. */
  multiLayer?: boolean
  /** 'oci-archive' (default) writes <dir>/busybox.oci.tar; 'oci-dir' writes the layout into <dir>/busybox-oci/. */
  format?: 'oci-archive' | 'oci-dir'
  compression?: 'gzip' | 'zstd' | 'none'
  /** Wraps the manifest in an image index with a (fake) linux/arm64 sibling. */
  index?: boolean
  ref?: string
  /** The index.json ref-name annotation; default `ref`. Null leaves the image unnamed. */
  refName?: string | null
}

export const busyboxApplets = ['sh', 'ls', 'cat', 'echo', 'sleep', 'httpd', 'mkdir', 'rm', 'touch', 'wget', 'id', 'hostname', 'env',
  'kill', 'ps', 'head', 'dd', 'grep', 'sed', 'true', 'false', 'printf', 'test', 'nc', 'sha256sum']
export const busyboxCmd = ['httpd', '-f', '-v', '-p', '8080', '-h', '/www']
const mtime = new Date('2024-01-01T00:00:00Z')

/** A fresh temporary directory, removed when the test ends. */
export async function useTmpDir(t: TestContext, prefix = 'hangar-images-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.after(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** A tar stream (uncompressed) of the entries, in order, owned by root. */
export function tarBytes(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = []
  for (const e of entries) {
    const body = e.body === undefined ? Buffer.alloc(0) : Buffer.from(e.body)
    const type = e.type ?? 'File'
    const h: HeaderData = {
      path: type === 'Directory' && !e.path.endsWith('/') ? `${e.path}/` : e.path,
      mode: e.mode ?? (type === 'Directory' ? 0o755 : 0o644), uid: 0, gid: 0, uname: 'root', gname: 'root',
      size: type === 'File' || e.forceBody ? body.length : 0, mtime, type, linkpath: e.linkpath ?? '', devmaj: 0, devmin: 0,
    }
    const block = Buffer.alloc(512)
    if (new Header(h).encode(block, 0)) throw new Error(`test tar: ${e.path} needs a PAX header; keep fixture paths short`)
    blocks.push(block)
    if ((type === 'File' || e.forceBody) && body.length > 0) blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512))
  }
  blocks.push(Buffer.alloc(1024))
  return Buffer.concat(blocks)
}

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

/** The layers of the test image, uncompressed, bottom first. */
export async function busyboxLayers(multiLayer = false): Promise<Buffer[]> {
  const base: TarEntry[] = [
    { path: './', type: 'Directory' },
    { path: 'bin', type: 'Directory' },
    { path: 'bin/busybox', body: await readFile('/bin/busybox'), mode: 0o755 },
    ...busyboxApplets.map((a): TarEntry => ({ path: `bin/${a}`, type: 'SymbolicLink', linkpath: 'busybox' })),
    { path: 'etc', type: 'Directory' },
    { path: 'etc/passwd', body: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' },
    { path: 'etc/group', body: 'root:x:0:\nnogroup:x:65534:\n' },
    { path: 'root', type: 'Directory', mode: 0o700 },
    { path: 'tmp', type: 'Directory', mode: 0o1777 },
    { path: 'www', type: 'Directory' },
    { path: 'www/index.html', body: 'hello from hangar\n' },
  ]
  if (!multiLayer) return [tarBytes(base)]
  base.push(
    { path: 'etc/motd', body: 'deleted by layer 2\n' },
    { path: 'opaque', type: 'Directory' },
    { path: 'opaque/old.txt', body: 'old\n' },
    { path: 'opaque/sub', type: 'Directory' },
    { path: 'opaque/sub/deep.txt', body: 'deep\n' },
  )
  const top: TarEntry[] = [
    { path: 'etc', type: 'Directory' },
    { path: 'etc/.wh.motd' },
    { path: 'opaque', type: 'Directory' },
    { path: 'opaque/.wh..wh..opq' },
    { path: 'opaque/new.txt', body: 'new\n' },
    { path: 'data', type: 'Directory' },
    { path: 'data/file', body: 'linked\n' },
    { path: 'data/link', type: 'Link', linkpath: 'data/file' },
  ]
  return [tarBytes(base), tarBytes(top)]
}

export function busyboxConfig(diffIds: string[], architecture = 'amd64'): Record<string, unknown> {
  return {
    created: '2024-01-01T00:00:00Z', architecture, os: 'linux',
    config: {
      Cmd: busyboxCmd, Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      ExposedPorts: { '8080/tcp': {} }, WorkingDir: '/',
      Labels: { 'org.opencontainers.image.title': 'hangar-busybox', 'io.hangar.test': 'true' },
    },
    rootfs: { type: 'layers', diff_ids: diffIds },
  }
}

/** Builds the busybox test image as an OCI archive (default) or layout directory. */
export async function buildBusyboxImage(dir: string, opts: BusyboxOptions = {}): Promise<BuiltImage> {
  return buildOciImage(dir, await busyboxLayers(opts.multiLayer), opts)
}

/** Any layers (uncompressed tars) as an OCI image with the busybox config; used for hostile-layer tests too. */
export async function buildOciImage(dir: string, layers: Buffer[], opts: BusyboxOptions & { name?: string; diffIds?: string[] } = {}): Promise<BuiltImage> {
  const ref = opts.ref ?? 'busybox:latest'
  const blobs = new Map<string, Buffer>()
  const put = (b: Buffer): { digest: string; size: number } => {
    const digest = sha(b)
    blobs.set(digest, b)
    return { digest, size: b.length }
  }
  const compression = opts.compression ?? 'gzip'
  const compress = (b: Buffer): Buffer => (compression === 'gzip' ? gzipSync(b) : compression === 'zstd' ? zstdCompressSync(b) : b)
  const layerType = `application/vnd.oci.image.layer.v1.tar${compression === 'none' ? '' : `+${compression}`}`
  const layerDescs = layers.map((l) => ({ mediaType: layerType, ...put(compress(l)) }))
  const manifestFor = (arch: string): { mediaType: string; digest: string; size: number; platform: { os: string; architecture: string } } => {
    const config = put(Buffer.from(JSON.stringify(busyboxConfig(opts.diffIds ?? layers.map(sha), arch))))
    const m = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: layerDescs }
    return { mediaType: m.mediaType, ...put(Buffer.from(JSON.stringify(m))), platform: { os: 'linux', architecture: arch } }
  }
  const amd64 = manifestFor('amd64')
  let top: Record<string, unknown> = { mediaType: amd64.mediaType, digest: amd64.digest, size: amd64.size }
  if (opts.index) {
    const idx = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [manifestFor('arm64'), amd64] }
    top = { mediaType: idx.mediaType, ...put(Buffer.from(JSON.stringify(idx))) }
  }
  const refName = opts.refName === undefined ? ref : opts.refName
  if (refName !== null) top.annotations = { 'org.opencontainers.image.ref.name': refName }
  const files: [string, Buffer][] = [
    ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
    ['index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [top] }))],
    ...[...blobs].map(([d, b]): [string, Buffer] => [`blobs/sha256/${d.slice(7)}`, b]),
  ]
  const name = opts.name ?? 'busybox'
  if (opts.format === 'oci-dir') {
    const root = join(dir, `${name}-oci`)
    for (const [p, b] of files) {
      await mkdir(join(root, p, '..'), { recursive: true })
      await writeFile(join(root, p), b)
    }
    return { path: root, ref, manifestDigest: amd64.digest }
  }
  const path = join(dir, `${name}.oci.tar`)
  await writeFile(path, tarBytes([{ path: 'blobs', type: 'Directory' }, { path: 'blobs/sha256', type: 'Directory' }, ...files.map(([p, body]) => ({ path: p, body }))]))
  return { path, ref, manifestDigest: amd64.digest }
}

/** A `docker save`-style tarball (legacy layout: <id>/layer.tar, uncompressed) at <dir>/busybox.docker.tar. */
export async function buildDockerSaveTarball(
  dir: string, opts: { multiLayer?: boolean; ref?: string; gzipLayers?: boolean; linkedDuplicate?: boolean } = {},
): Promise<BuiltImage> {
  const ref = opts.ref ?? 'busybox:latest'
  const layers = await busyboxLayers(opts.multiLayer)
  // docker save writes a layer used twice once, and links the second name to it.
  if (opts.linkedDuplicate) layers.push(layers[0]!)
  const config = Buffer.from(JSON.stringify(busyboxConfig(layers.map(sha))))
  const configName = `${sha(config).slice(7)}.json`
  const entries: TarEntry[] = [{ path: configName, body: config }]
  const layerPaths: string[] = []
  for (const [i, l] of layers.entries()) {
    const id = sha(l).slice(7)
    if (layerPaths.includes(`${id}/layer.tar`)) {
      entries.push({ path: `dup${i}`, type: 'Directory' }, { path: `dup${i}/layer.tar`, type: 'SymbolicLink', linkpath: `../${id}/layer.tar` })
      layerPaths.push(`dup${i}/layer.tar`)
      continue
    }
    layerPaths.push(`${id}/layer.tar`)
    entries.push({ path: id, type: 'Directory' }, { path: `${id}/VERSION`, body: '1.0' }, { path: `${id}/layer.tar`, body: opts.gzipLayers ? gzipSync(l) : l })
  }
  entries.push({ path: 'manifest.json', body: JSON.stringify([{ Config: configName, RepoTags: [ref], Layers: layerPaths }]) })
  const [repo, tag] = [ref.slice(0, ref.lastIndexOf(':')), ref.slice(ref.lastIndexOf(':') + 1)]
  entries.push({ path: 'repositories', body: JSON.stringify({ [repo]: { [tag]: sha(layers.at(-1)!).slice(7) } }) })
  const path = join(dir, 'busybox.docker.tar')
  await writeFile(path, tarBytes(entries))
  return { path, ref, manifestDigest: null }
}

/** An image store in a temporary directory, removed (after unmounts registered later) when the test ends. */
export async function openTestStore(t: TestContext): Promise<{ store: ImageStore; root: string; dir: string }> {
  const dir = await useTmpDir(t)
  const root = join(dir, 'store')
  return { store: await openImageStore({ root }), root, dir }
}

/** Every file and directory below `dir`, relative, sorted; [] when it does not exist. */
export async function listTree(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true }).catch(() => [] as string[])
  return names.sort()
}
