/**
 * A big blob through the content store's writer: bytes written by the writer
 * thread at their positions, in pieces, with early syncs under way, still come
 * out whole and in order; stopping halfway leaves nothing behind.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { ContentStore } from '../../../src/images/content-store.ts'
import { listTree, useTmpDir } from '../../support/images.ts'

/** `total` bytes in chunks of uneven sizes (1 byte to 3 MiB), so batches straddle every boundary. */
function chunks(total: number): Buffer[] {
  const out: Buffer[] = []
  const sizes = [1, 4093, 65536, 3 << 20, 131073, 777, 1 << 20]
  for (let left = total, i = 0; left > 0; i++) {
    const n = Math.min(left, sizes[i % sizes.length]!)
    out.push(randomBytes(n))
    left -= n
  }
  return out
}

test('a blob of 80 MiB in uneven chunks is stored whole, in order, under its digest', async (t) => {
  const root = await useTmpDir(t)
  const cs = await ContentStore.open(root)
  const parts = chunks(80 << 20)
  const whole = Buffer.concat(parts)
  const digest = `sha256:${createHash('sha256').update(whole).digest('hex')}`
  const w = cs.writeStream(digest, whole.length)
  await pipeline(Readable.from(parts), w)
  await w.commit()
  assert.equal(w.digest, digest)
  assert.ok((await readFile(cs.path(digest))).equals(whole))
  assert.deepEqual(await listTree(join(root, 'ingest')), [])
})

test('several big blobs written at once each come out whole', async (t) => {
  const root = await useTmpDir(t)
  const cs = await ContentStore.open(root)
  const blobs = [chunks(40 << 20), chunks(36 << 20), chunks(33 << 20)]
  const digests = await Promise.all(blobs.map(async (parts) => {
    const w = cs.writeStream()
    await pipeline(Readable.from(parts), w)
    await w.commit()
    return w.digest
  }))
  for (const [i, parts] of blobs.entries()) assert.equal(digests[i], `sha256:${createHash('sha256').update(Buffer.concat(parts)).digest('hex')}`)
})

test('a big upload that stops halfway, or turns out wrong, leaves nothing in blobs/ or ingest/', async (t) => {
  const root = await useTmpDir(t)
  const cs = await ContentStore.open(root)
  // Cut off after 48 MiB: early syncs have started by then.
  const parts = chunks(48 << 20)
  const source = new Readable({
    read() {
      const next = parts.shift()
      if (next) this.push(next)
      else this.destroy(new Error('the client went away'))
    },
  })
  await assert.rejects(pipeline(source, cs.writeStream()), /the client went away/)
  const wrong = cs.writeStream(`sha256:${'0'.repeat(64)}`)
  await assert.rejects(pipeline(Readable.from(chunks(40 << 20)), wrong), /digest mismatch/)
  // destroy() removes the temp file asynchronously, just after pipeline rejects.
  for (let i = 0; i < 200 && (await listTree(join(root, 'ingest'))).length > 0; i++) await new Promise((r) => setTimeout(r, 10))
  assert.deepEqual(await listTree(join(root, 'ingest')), [])
  assert.deepEqual(await listTree(join(root, 'blobs/sha256')), [])
})
