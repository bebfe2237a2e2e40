/** Blobs appear under their digest only whole and verified. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { isHangarError } from '../../../src/errors.ts'
import { ContentStore } from '../../../src/images/content-store.ts'
import { listTree, useTmpDir } from '../../support/images.ts'

const digestOf = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`

test('putBytes stores a blob under its digest in an OCI layout', async (t) => {
  const root = await useTmpDir(t)
  const cs = await ContentStore.open(root)
  const { digest, size } = await cs.putBytes('hello')
  assert.equal(digest, digestOf('hello'))
  assert.equal(size, 5)
  assert.ok(await cs.has(digest))
  assert.equal((await cs.read(digest)).toString(), 'hello')
  assert.equal(cs.path(digest), join(root, 'blobs/sha256', digest.slice(7)))
  assert.deepEqual(JSON.parse(await readFile(join(root, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' })
  assert.deepEqual(await listTree(join(root, 'ingest')), [])
})

test('a wrong digest, a wrong size or a broken source leaves nothing in blobs/ or ingest/', async (t) => {
  const root = await useTmpDir(t)
  const cs = await ContentStore.open(root)
  const bad = (e: unknown): boolean => isHangarError(e) && e.code === 'invalid_argument'
  await assert.rejects(cs.putBytes('hello', digestOf('other')), bad)
  await assert.rejects(pipeline(Readable.from([Buffer.from('hello')]), cs.writeStream(digestOf('hello'), 4)), bad)
  await assert.rejects(pipeline(Readable.from([Buffer.from('hel')]), cs.writeStream(digestOf('hello'), 5)), bad)
  const failing = new Readable({ read() { this.push(Buffer.from('part')); this.destroy(new Error('source broke')) } })
  await assert.rejects(pipeline(failing, cs.writeStream(digestOf('hello'))), /source broke/)
  // destroy() removes the temp file asynchronously, just after pipeline rejects.
  for (let i = 0; i < 100 && (await listTree(join(root, 'ingest'))).length > 0; i++) await new Promise((r) => setTimeout(r, 10))
  assert.deepEqual(await listTree(join(root, 'blobs/sha256')), [])
  assert.deepEqual(await listTree(join(root, 'ingest')), [])
})

test('a verified writer is invisible until commit', async (t) => {
  const root = await useTmpDir(t)
  const cs = await ContentStore.open(root)
  const w = cs.writeStream(digestOf('later'), 5)
  await pipeline(Readable.from([Buffer.from('later')]), w)
  assert.equal(await cs.has(w.digest), false)
  await w.commit()
  assert.equal(await cs.has(w.digest), true)
})
