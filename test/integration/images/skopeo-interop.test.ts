/** The store is a real OCI image layout: skopeo reads it, and what skopeo writes imports back. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { openImageStore } from '../../../src/images/index.ts'
import { buildBusyboxImage, openTestStore, useTmpDir } from '../../support/images.ts'

const run = promisify(execFile)

test('skopeo inspects an image in the store by its tag', async (t) => {
  const { store, dir, root } = await openTestStore(t)
  const [rec] = await store.importFile((await buildBusyboxImage(dir, { multiLayer: true })).path)
  const { stdout } = await run('skopeo', ['inspect', `oci:${root}:busybox:latest`])
  const info = JSON.parse(stdout)
  assert.equal(info.Digest, rec!.digest)
  assert.deepEqual(info.Layers, rec!.layers)
  assert.equal(info.Architecture, 'amd64')
})

test('skopeo copies out of the store, and its output imports back with the same digest', async (t) => {
  const { store, dir, root } = await openTestStore(t)
  const [rec] = await store.importFile((await buildBusyboxImage(dir)).path)
  const out = await useTmpDir(t)
  await run('skopeo', ['copy', `oci:${root}:busybox:latest`, `oci-archive:${join(out, 'copy.tar')}:copied:1`])
  const second = await openImageStore({ root: join(out, 'store') })
  const [back] = await second.importFile(join(out, 'copy.tar'))
  assert.equal(back!.ref, 'copied:1')
  assert.equal(back!.digest, rec!.digest)
})

test('skopeo reads the test fixture archive as a valid OCI archive', async (t) => {
  const dir = await useTmpDir(t)
  const img = await buildBusyboxImage(dir, { index: true })
  await run('skopeo', ['copy', `oci-archive:${img.path}:busybox:latest`, `oci:${join(dir, 'layout')}:bb`])
  const { stdout } = await run('skopeo', ['inspect', `oci:${join(dir, 'layout')}:bb`])
  assert.equal(JSON.parse(stdout).Digest, img.manifestDigest)
})
