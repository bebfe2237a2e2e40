/**
 * The push client against Hangar's registry served on loopback: blobs go up a
 * few at a time after one login, the manifest only once they are all there, and
 * the first blob that fails stops the others and is the error reported.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { truncate } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { serve, type ServerType } from '@hono/node-server'
import { Hono } from 'hono'
import { createRegistry, openImageStore, pushImage, type ImageStore } from '../../../src/images/index.ts'
import { buildOciImage, useTmpDir } from '../../support/images.ts'

/** The registries these tests and benches use run on loopback, which pulls and pushes refuse unless allowed. */
const loopback = ['127.0.0.0/8', '::1/128']

interface Seen {
  tokens: number
  /** DELETEs of upload sessions (a client cancelling what it gave up on). */
  uploadDeletes: number
  blobPuts: number
  maxBlobPuts: number
  manifestPuts: number
}

/** A registry over a fresh store, with a hook before each request; `host` is host:port. */
async function registry(t: TestContext, hook: (c: { method: string; path: string; digest: string | undefined }) => Promise<Response | undefined> = async () => undefined): Promise<{ host: string; store: ImageStore; seen: Seen }> {
  const dir = await useTmpDir(t)
  const store = await openImageStore({ root: `${dir}/remote` })
  const reg = createRegistry({ store, verifyToken: (tok) => (tok === 'secret' ? { name: 'root', denies: () => null } : null) })
  const seen: Seen = { tokens: 0, uploadDeletes: 0, blobPuts: 0, maxBlobPuts: 0, manifestPuts: 0 }
  const app = new Hono()
  app.use('/v2/*', async (c, next) => {
    const path = c.req.path
    if (path === '/v2/token') seen.tokens++
    if (c.req.method === 'PUT' && path.includes('/manifests/')) seen.manifestPuts++
    if (c.req.method === 'DELETE' && path.includes('/blobs/uploads/')) seen.uploadDeletes++
    const blobPut = c.req.method === 'PUT' && path.includes('/blobs/uploads/')
    if (blobPut) seen.maxBlobPuts = Math.max(seen.maxBlobPuts, ++seen.blobPuts)
    try {
      const early = await hook({ method: c.req.method, path, digest: c.req.query('digest') })
      if (early) return early
      await next()
    } finally {
      if (blobPut) seen.blobPuts--
    }
  })
  app.route('/v2', reg.app)
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s))
  })
  t.after(async () => {
    ;(server as import('node:http').Server).closeAllConnections()
    await new Promise((r) => server.close(r))
    await reg.close()
  })
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, store, seen }
}

/** A local store holding `n` layers of 1 MiB of random bytes as local/big:1; their digests. */
async function localImage(t: TestContext, n: number): Promise<{ store: ImageStore; layers: string[] }> {
  const dir = await useTmpDir(t)
  const img = await buildOciImage(dir, Array.from({ length: n }, () => randomBytes(1 << 20)), { ref: 'local/big:1', compression: 'none' })
  const store = await openImageStore({ root: `${dir}/local`, pullAllow: loopback })
  const [rec] = await store.importFile(img.path, { tag: 'local/big:1' })
  return { store, layers: rec!.layers }
}

const credentials = { username: 'x', password: 'secret' }

test('a push sends its blobs a few at a time after a single login, then the manifest', async (t) => {
  // Each blob PUT is held a moment, so the uploads overlap if the client sends them together.
  const remote = await registry(t, async (c) => {
    if (c.method === 'PUT' && c.path.includes('/blobs/uploads/')) await sleep(100)
    return undefined
  })
  const local = await localImage(t, 6)
  const res = await pushImage(local.store, 'local/big:1', `${remote.host}/robots/big:1`, { credentials })
  assert.equal(res.ref, `${remote.host}/robots/big:1`)
  assert.equal(remote.seen.tokens, 1, 'the concurrent requests share one login')
  assert.equal(remote.seen.maxBlobPuts, 3, 'three blob uploads at a time')
  assert.equal(remote.seen.manifestPuts, 1)
  for (const d of local.layers) assert.ok(await remote.store.content.has(d), `${d} arrived`)
  assert.equal((await remote.store.resolve('robots/big:1')).digest, res.digest)
  // Pushed again, every blob is already there and only the manifest goes up.
  const skipped: string[] = []
  await pushImage(local.store, 'local/big:1', `${remote.host}/robots/big:2`, { credentials, onProgress: (p) => p.skipped && skipped.push(p.digest!) })
  assert.equal(skipped.length, local.layers.length + 1)
})

test('the first blob that fails stops the others, and its error is the one reported', async (t) => {
  let failing = ''
  const remote = await registry(t, async (c) => {
    if (c.method !== 'PUT' || !c.path.includes('/blobs/uploads/')) return undefined
    if (c.digest === failing) {
      return Response.json({ errors: [{ code: 'BLOB_UPLOAD_INVALID', message: 'the disk is full' }] }, { status: 507 })
    }
    // The others are slow: the push must not wait for them once one has failed.
    await sleep(3000)
    return undefined
  })
  const local = await localImage(t, 4)
  failing = local.layers[1]!
  const t0 = performance.now()
  await assert.rejects(pushImage(local.store, 'local/big:1', `${remote.host}/robots/big:1`, { credentials }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'unavailable')
    assert.match(e.message, new RegExp(`answered 507 to PUT blob ${failing}.*the disk is full`))
    return true
  })
  assert.ok(performance.now() - t0 < 2000, 'the uploads still in flight were abandoned, not waited for')
  assert.equal(remote.seen.manifestPuts, 0, 'no manifest without all its blobs')
  assert.equal(remote.seen.uploadDeletes, 3, 'the failed upload and the two abandoned ones were cancelled, not left to expire')
  await assert.rejects(remote.store.resolve('robots/big:1'))
  assert.equal(await remote.store.content.has(failing), false)
})

test('a push into a registry that refuses the credentials fails once, clearly', async (t) => {
  const remote = await registry(t)
  const local = await localImage(t, 3)
  await assert.rejects(pushImage(local.store, 'local/big:1', `${remote.host}/robots/big:1`, { credentials: { username: 'x', password: 'wrong' } }), /refused|answered 401/)
  assert.equal(remote.seen.manifestPuts, 0)
})

test('a layer cut short in the local store is refused by the registry, and nothing of it lands', async (t) => {
  const remote = await registry(t)
  const local = await localImage(t, 2)
  await truncate(local.store.content.path(local.layers[0]!), 1000)
  await assert.rejects(pushImage(local.store, 'local/big:1', `${remote.host}/robots/big:1`, { credentials }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'invalid_argument')
    assert.match(e.message, new RegExp(`PUT blob ${local.layers[0]} \\(DIGEST_INVALID`))
    return true
  })
  assert.equal(remote.seen.manifestPuts, 0)
  assert.equal(await remote.store.content.has(local.layers[0]!), false)
})
