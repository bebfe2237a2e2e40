import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { isHangarError } from '../../../src/errors.ts'
import { openImageStore } from '../../../src/images/index.ts'
import { buildBusyboxImage, openTestStore } from '../../support/images.ts'

const code = (c: string) => (e: unknown): boolean => isHangarError(e) && e.code === c

test('resolve finds an image by name, full Docker Hub name, digest and name@digest', async (t) => {
  const { store, dir } = await openTestStore(t)
  const [rec] = await store.importFile((await buildBusyboxImage(dir)).path)
  for (const ref of ['busybox', 'busybox:latest', 'docker.io/library/busybox:latest', rec!.digest, `busybox@${rec!.digest}`]) {
    assert.equal((await store.resolve(ref)).digest, rec!.digest, ref)
  }
  await assert.rejects(store.resolve('busybox:1.36'), code('image_not_found'))
  await assert.rejects(store.resolve(`other@${rec!.digest}`), code('image_not_found'))
  await assert.rejects(store.resolve('Not/Valid::'), code('invalid_image_ref'))
})

test('list shows one record per tag and survives reopening the store', async (t) => {
  const { store, dir, root } = await openTestStore(t)
  const img = await buildBusyboxImage(dir)
  await store.importFile(img.path)
  await store.importFile(img.path, { tag: 'busybox:stable' })
  await store.importFile(img.path) // importing again is a no-op for tags that exist
  const again = await openImageStore({ root })
  const refs = (await again.list()).map((r) => r.ref).sort()
  assert.deepEqual(refs, ['busybox:latest', 'busybox:stable'])
})

test('remove drops a tag but keeps the other tags of the same image', async (t) => {
  const { store, dir } = await openTestStore(t)
  const img = await buildBusyboxImage(dir)
  await store.importFile(img.path)
  await store.importFile(img.path, { tag: 'keep:1' })
  await store.remove('busybox')
  await assert.rejects(store.resolve('busybox:latest'), code('image_not_found'))
  assert.equal((await store.resolve('keep:1')).digest, img.manifestDigest)
  await assert.rejects(store.remove('busybox'), code('image_not_found'))
  await store.remove(img.manifestDigest!)
  assert.deepEqual(await store.list(), [])
})

test('concurrent imports into one store keep every tag', async (t) => {
  const { store, dir } = await openTestStore(t)
  const img = await buildBusyboxImage(join(dir))
  await Promise.all(['a', 'b', 'c', 'd'].map((tag) => store.importFile(img.path, { tag: `busybox:${tag}` })))
  assert.deepEqual((await store.list()).map((r) => r.tag).sort(), ['a', 'b', 'c', 'd'])
})
