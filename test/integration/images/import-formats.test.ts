import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isHangarError } from '../../../src/errors.ts'
import {
  buildBusyboxImage, buildDockerSaveTarball, busyboxCmd, listTree, openTestStore, useTmpDir,
} from '../../support/images.ts'

const code = (c: string) => (e: unknown): boolean => isHangarError(e) && e.code === c

test('an OCI archive imports under its ref-name annotation with the config parsed', async (t) => {
  const { store, dir } = await openTestStore(t)
  const img = await buildBusyboxImage(dir)
  const [rec, ...rest] = await store.importFile(img.path)
  assert.equal(rest.length, 0)
  assert.equal(rec!.ref, 'busybox:latest')
  assert.equal(rec!.digest, img.manifestDigest)
  assert.deepEqual(rec!.config, {
    entrypoint: [], cmd: busyboxCmd, env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], workingDir: '/',
    user: '', exposedPorts: ['8080/tcp'], stopSignal: null, labels: { 'org.opencontainers.image.title': 'hangar-busybox', 'io.hangar.test': 'true' },
  })
  assert.equal(rec!.created, '2024-01-01T00:00:00Z')
  assert.equal(rec!.layers.length, 1)
  assert.ok(rec!.size > 500_000)
})

test('an OCI layout directory imports and the tag option renames it', async (t) => {
  const { store, dir } = await openTestStore(t)
  const img = await buildBusyboxImage(dir, { format: 'oci-dir', multiLayer: true })
  const [rec] = await store.importFile(img.path, { tag: 'localhost:4280/tools/bb:v2' })
  assert.equal(rec!.ref, 'localhost:4280/tools/bb:v2')
  assert.equal(rec!.repository, 'localhost:4280/tools/bb')
  assert.equal(rec!.layers.length, 2)
  await assert.rejects(store.resolve('busybox:latest'), code('image_not_found'))
})

test('a docker save tarball with plain and with gzipped layers imports', async (t) => {
  const { store, dir } = await openTestStore(t)
  const plain = await buildDockerSaveTarball(dir, { multiLayer: true, ref: 'dockerbox:1' })
  const [rec] = await store.importFile(plain.path)
  assert.equal(rec!.ref, 'dockerbox:1')
  assert.deepEqual(rec!.config.cmd, busyboxCmd)
  const [top] = await store.unpack(rec!).then((dirs) => dirs.slice(1))
  assert.equal(await readFile(join(top!, 'data/file'), 'utf8'), 'linked\n')

  const gz = await buildDockerSaveTarball(await useTmpDir(t), { gzipLayers: true, ref: 'dockerbox:gz' })
  const [g] = await store.importFile(gz.path)
  const [base] = await store.unpack(g!)
  assert.equal(await readFile(join(base!, 'www/index.html'), 'utf8'), 'hello from hangar\n')
})

test('a docker save tarball that links a repeated layer imports it once', async (t) => {
  const { store, dir } = await openTestStore(t)
  const img = await buildDockerSaveTarball(dir, { multiLayer: true, linkedDuplicate: true })
  const [rec] = await store.importFile(img.path)
  assert.equal(rec!.layers.length, 3)
  assert.equal(rec!.layers[0], rec!.layers[2])
  const dirs = await store.unpack(rec!)
  assert.equal(dirs[0], dirs[2])
})

test('zstd layers import and unpack', async (t) => {
  const { store, dir } = await openTestStore(t)
  const img = await buildBusyboxImage(dir, { compression: 'zstd' })
  const [rec] = await store.importFile(img.path)
  const [base] = await store.unpack(rec!)
  assert.equal(await readFile(join(base!, 'www/index.html'), 'utf8'), 'hello from hangar\n')
})

test('an image index resolves to its linux/amd64 manifest', async (t) => {
  const { store, dir } = await openTestStore(t)
  const img = await buildBusyboxImage(dir, { index: true })
  const [rec] = await store.importFile(img.path)
  assert.equal(rec!.digest, img.manifestDigest)
})

test('an unnamed image needs the tag option', async (t) => {
  const { store, dir } = await openTestStore(t)
  const img = await buildBusyboxImage(dir, { refName: null })
  await assert.rejects(store.importFile(img.path), (e: unknown) => code('invalid_argument')(e) && /no name/.test((e as Error).message))
  assert.deepEqual(await listTree(join(dir, 'store', 'blobs', 'sha256')), [])
  const [rec] = await store.importFile(img.path, { tag: 'named' })
  assert.equal(rec!.ref, 'named:latest')
})

test('a digest mismatch is rejected and leaves nothing in blobs/ or ingest/', async (t) => {
  const { store, dir, root } = await openTestStore(t)
  const img = await buildBusyboxImage(dir, { format: 'oci-dir', multiLayer: true })
  const index = JSON.parse(await readFile(join(img.path, 'index.json'), 'utf8'))
  const manifest = JSON.parse(await readFile(join(img.path, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'))
  const layerFile = join(img.path, 'blobs/sha256', manifest.layers[1].digest.slice(7))
  const bytes = await readFile(layerFile)
  bytes[100] = bytes[100]! ^ 0xff // same size, other content
  await writeFile(layerFile, bytes)

  await assert.rejects(store.importFile(img.path), (e: unknown) => code('invalid_argument')(e) && /digest mismatch/.test((e as Error).message))
  assert.deepEqual(await listTree(join(root, 'blobs', 'sha256')), [])
  assert.deepEqual(await listTree(join(root, 'ingest')), [])
  assert.deepEqual(await store.list(), [])
})

test('a corrupt archive is rejected and leaves nothing in blobs/ or ingest/', async (t) => {
  const { store, dir, root } = await openTestStore(t)
  const good = await buildBusyboxImage(dir)
  const layout = await buildBusyboxImage(await useTmpDir(t), { format: 'oci-dir' })
  const index = JSON.parse(await readFile(join(layout.path, 'index.json'), 'utf8'))
  const manifest = JSON.parse(await readFile(join(layout.path, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'))
  const layer = await readFile(join(layout.path, 'blobs/sha256', manifest.layers[0].digest.slice(7)))
  const archive = await readFile(good.path)
  const at = archive.indexOf(layer)
  assert.ok(at > 0)
  archive[at + 1000] = archive[at + 1000]! ^ 0xff
  await writeFile(good.path, archive)

  await assert.rejects(store.importFile(good.path), code('invalid_argument'))
  assert.deepEqual(await listTree(join(root, 'blobs', 'sha256')), [])
  assert.deepEqual(await listTree(join(root, 'ingest')), [])

  await writeFile(join(dir, 'not-a-tar'), 'hello')
  await assert.rejects(store.importFile(join(dir, 'not-a-tar')), code('invalid_argument'))
  await assert.rejects(store.importFile(join(dir, 'missing')), code('invalid_argument'))
  assert.deepEqual(await listTree(join(root, 'ingest')), [])
})
