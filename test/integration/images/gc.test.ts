import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { promisify } from 'node:util'
import type { ImageStore } from '../../../src/images/index.ts'
import { cliMain, nodeBin } from '../../support/daemon.ts'
import { buildOciImage, busyboxLayers, openTestStore, tarBytes } from '../../support/images.ts'
import { daemonWithBusybox, httpGet } from '../../support/machines.ts'

const run = promisify(execFile)
const none = { blobsRemoved: 0, bytesFreed: 0, layersRemoved: 0 }
const ls = (dir: string): Promise<string[]> => readdir(dir).then((n) => n.sort(), () => [])

/** Two images on the busybox base layer, each with a one-file top layer of its own. */
async function twoImages(dir: string): Promise<{ a: string; b: string }> {
  const [base] = await busyboxLayers()
  const top = (name: string): Buffer => tarBytes([{ path: 'etc', type: 'Directory' }, { path: `etc/${name}`, body: `${name}\n` }])
  const a = await buildOciImage(dir, [base!, top('a')], { ref: 'a:1', name: 'a' })
  const b = await buildOciImage(dir, [base!, top('b')], { ref: 'b:1', name: 'b' })
  return { a: a.path, b: b.path }
}

/** Every blob the image names is present and every layer directory unpack returns exists. */
async function assertWhole(store: ImageStore, ref: string): Promise<void> {
  const img = await store.resolve(ref)
  for (const l of img.layers) assert.ok(await store.content.has(l), `layer ${l} of ${ref}`)
  const dirs = await store.unpack(img)
  assert.ok(existsSync(join(dirs[0]!, 'bin/busybox')), `base layer of ${ref}`)
  assert.ok(existsSync(join(dirs[1]!, 'etc')), `top layer of ${ref}`)
}

test('gc frees only the blobs and layers of an untagged image; the shared base layer stays', async (t) => {
  const { store, dir, root } = await openTestStore(t)
  const { a, b } = await twoImages(dir)
  await store.importFile(a)
  await store.importFile(b)
  const dirsA = await store.unpack(await store.resolve('a:1'))
  const dirsB = await store.unpack(await store.resolve('b:1'))
  assert.equal(dirsA[0], dirsB[0], 'one unpacked base layer')
  assert.equal((await ls(join(root, 'blobs/sha256'))).length, 7)

  await store.remove('b:1')
  const r = await store.gc()
  assert.equal(r.blobsRemoved, 3, 'manifest, config and top layer of b')
  assert.equal(r.layersRemoved, 1)
  assert.ok(r.bytesFreed > 0)
  assert.equal((await ls(join(root, 'blobs/sha256'))).length, 4)
  assert.ok(!existsSync(dirsB[1]!))
  assert.equal((await ls(join(root, 'layers'))).length, 2)
  assert.equal((await ls(join(root, 'layers-by-digest'))).length, 2)
  assert.deepEqual(await ls(join(root, 'ingest')), [], 'trash removed')
  assert.deepEqual(await store.unpack(await store.resolve('a:1')), dirsA)
  await assertWhole(store, 'a:1')
  assert.deepEqual(await store.gc(), none)

  // b comes back whole on a fresh import: nothing stale remembered it.
  await store.importFile(b)
  await assertWhole(store, 'b:1')
})

test('manifests and layer directories named in use are kept, with their blobs', async (t) => {
  const { store, dir, root } = await openTestStore(t)
  const [rec] = await store.importFile((await twoImages(dir)).a)
  const dirs = await store.unpack(rec!)
  await store.remove('a:1')
  assert.deepEqual(await store.gc({ inUse: () => ({ manifests: [rec!.digest] }) }), none)
  assert.ok(dirs.every((d) => existsSync(d)))

  // Only the top layer's directory is mounted somewhere: it and its blob stay.
  const r = await store.gc({ inUse: async () => ({ layerDirs: [dirs[1]!] }) })
  assert.deepEqual([r.blobsRemoved, r.layersRemoved], [3, 1])
  assert.deepEqual([existsSync(dirs[0]!), existsSync(dirs[1]!)], [false, true])
  assert.ok(await store.content.has(rec!.layers[1]!))
  const r2 = await store.gc()
  assert.deepEqual([r2.blobsRemoved, r2.layersRemoved], [1, 1])
  assert.deepEqual([await ls(join(root, 'blobs/sha256')), await ls(join(root, 'layers'))], [[], []])
})

test('stale ingest entries go; fresh ones and an upload in progress stay', async (t) => {
  const { store, root } = await openTestStore(t)
  const ingest = join(root, 'ingest')
  const old = new Date(Date.now() - 2 * 60 * 60 * 1000)
  await writeFile(join(ingest, 'blob-old'), 'x'.repeat(100))
  await mkdir(join(ingest, 'import-old'))
  await writeFile(join(ingest, 'import-old', 'f'), 'y'.repeat(50))
  for (const p of ['blob-old', 'import-old']) await utimes(join(ingest, p), old, old)
  await writeFile(join(ingest, 'blob-new'), 'fresh')
  const upload = store.content.writeStream()
  await new Promise((resolve) => upload.write('first half ', resolve))

  const r = await store.gc()
  assert.equal(r.bytesFreed, 150)
  assert.equal((await ls(ingest)).filter((n) => n !== 'blob-new').length, 1, 'the upload file')
  assert.ok((await ls(ingest)).includes('blob-new'))
  await pipeline(['second half'], upload)
  await upload.commit()
  assert.equal((await store.content.read(upload.digest)).toString(), 'first half second half')
})

test('an import or a blob write racing gc is never half collected', async (t) => {
  const { store, dir } = await openTestStore(t)
  const { a } = await twoImages(dir)
  await store.importFile(a)
  await store.remove('a:1')

  // Import first: it finds every blob present and skips them, so gc waits until the tag is back.
  const [, r1] = await Promise.all([store.importFile(a), store.gc()])
  assert.deepEqual(r1, none)
  await assertWhole(store, 'a:1')

  // gc first: it removes the untagged image, then the import brings every blob back.
  await store.remove('a:1')
  const [r2] = await Promise.all([store.gc(), store.importFile(a)])
  assert.equal(r2.blobsRemoved, 4)
  await assertWhole(store, 'a:1')

  const [, put] = await Promise.all([store.gc(), store.content.putBytes('written during gc')])
  assert.ok(await store.content.has(put.digest))
})

async function hangar(env: NodeJS.ProcessEnv, ...args: string[]): Promise<string> {
  return (await run(nodeBin, [cliMain, ...args], { env, timeout: 60_000 })).stdout
}

test('a machine keeps its untagged image through gc and still starts; once destroyed, gc frees it', async (t) => {
  const d = await daemonWithBusybox(t)
  const hm = d.client.machines
  const images = join(d.dataDir, 'images')
  const m = await hm.create(d.app, { config: { image: d.image } })
  assert.equal(m.state, 'started')
  const before = [await ls(join(images, 'blobs/sha256')), await ls(join(images, 'layers'))]

  await d.client.images.remove(d.image)
  assert.deepEqual(await d.client.images.gc(), none)
  assert.deepEqual([await ls(join(images, 'blobs/sha256')), await ls(join(images, 'layers'))], before)
  await hm.stop(d.app, m.id)
  await hm.start(d.app, m.id)
  assert.equal((await hm.get(d.app, m.id)).state, 'started')
  assert.equal((await httpGet(`http://${m.private_ip}:8080/`)).status, 200)
  assert.match(await hangar(d.env, 'image', 'gc'), /^removed 0 blobs and 0 unpacked layers, freed 0\.0 MB$/m)

  await hm.destroy(d.app, m.id, { force: true })
  const r = JSON.parse(await hangar(d.env, 'image', 'gc', '--json'))
  assert.deepEqual([r.blobsRemoved, r.layersRemoved], [3, 1])
  assert.ok(r.bytesFreed > 0)
  assert.deepEqual([await ls(join(images, 'blobs/sha256')), await ls(join(images, 'layers'))], [[], []])
})
