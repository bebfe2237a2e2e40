/**
 * The /v2 protocol by hand, as the distribution spec words it: auth challenge
 * and token flow, chunked uploads (in order, 416 otherwise), digest checks that
 * leave nothing behind, Range reads, manifest validation, tag and catalog pages.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { startDaemon, type TestDaemon } from '../../support/daemon.ts'
import { busyboxConfig, tarBytes } from '../../support/images.ts'

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`
const oci = 'application/vnd.oci.image.manifest.v1+json'
type Body = Buffer | string

function client(d: TestDaemon) {
  const auth = { authorization: `Bearer ${d.token}` }
  return (path: string, init: Omit<RequestInit, 'body'> & { body?: Body | undefined; headers?: Record<string, string> } = {}): Promise<Response> =>
    fetch(new URL(path, d.url), { ...init, headers: { ...auth, ...init.headers }, ...(init.body ? { duplex: 'half' } : {}) } as RequestInit)
}

async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { errors: { code: string }[] }).errors[0]!.code
}

async function pushBlob(reg: ReturnType<typeof client>, name: string, bytes: Buffer): Promise<string> {
  const res = await reg(`/v2/${name}/blobs/uploads/?digest=${sha(bytes)}`, { method: 'POST', body: bytes })
  assert.equal(res.status, 201)
  return sha(bytes)
}

/** A runnable one-layer image's blobs in the registry; returns its manifest. */
async function pushImageBlobs(reg: ReturnType<typeof client>, name: string): Promise<Buffer> {
  const layer = tarBytes([{ path: 'hello.txt', body: 'hi\n' }])
  const config = Buffer.from(JSON.stringify(busyboxConfig([sha(layer)])))
  await pushBlob(reg, name, layer)
  await pushBlob(reg, name, config)
  return Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: oci,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }],
  }))
}

test('auth: 401 with a Bearer challenge, then Bearer, Basic, or a token from the token endpoint', async (t) => {
  const d = await startDaemon(t)
  const anon = await fetch(`${d.url}/v2/`)
  assert.equal(anon.status, 401)
  assert.equal(anon.headers.get('www-authenticate'), `Bearer realm="${d.url}/v2/token",service="hangar"`)
  assert.equal(await errorCode(anon), 'UNAUTHORIZED')
  const scoped = await fetch(`${d.url}/v2/a/b/tags/list`)
  assert.match(scoped.headers.get('www-authenticate')!, /scope="repository:a\/b:pull"/)

  const bearer = await client(d)('/v2/')
  assert.equal(bearer.status, 200)
  assert.equal(bearer.headers.get('docker-distribution-api-version'), 'registry/2.0')
  const basic = (pw: string): string => `Basic ${Buffer.from(`robot:${pw}`).toString('base64')}`
  assert.equal((await fetch(`${d.url}/v2/`, { headers: { authorization: basic(d.token) } })).status, 200)
  assert.equal((await fetch(`${d.url}/v2/`, { headers: { authorization: basic('wrong') } })).status, 401)

  assert.equal((await fetch(`${d.url}/v2/token?service=hangar&scope=repository:a/b:pull,push`)).status, 401)
  assert.equal((await fetch(`${d.url}/v2/token?service=hangar`, { headers: { authorization: basic('wrong') } })).status, 401)
  const tok = await fetch(`${d.url}/v2/token?service=hangar&scope=repository:a/b:pull,push`, { headers: { authorization: basic(d.token) } })
  assert.equal(tok.status, 200)
  const body = (await tok.json()) as { token: string; access_token: string; expires_in: number; issued_at: string }
  assert.equal(body.token, body.access_token)
  assert.ok(body.expires_in >= 60)
  assert.equal((await fetch(`${d.url}/v2/`, { headers: { authorization: `Bearer ${body.token}` } })).status, 200)
  assert.equal((await fetch(`${d.url}/v2/`, { headers: { authorization: `Bearer ${body.token}x` } })).status, 401)
  // A short-lived token is not an API token: /v1 still wants the real one.
  assert.equal((await fetch(`${d.url}/v1/apps`, { headers: { authorization: `Bearer ${body.token}` } })).status, 401)
})

test('chunked upload: in-order PATCHes, 416 out of order, status by GET, PUT verifies; Range reads give 206', async (t) => {
  const d = await startDaemon(t)
  const reg = client(d)
  const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251))
  const start = await reg('/v2/chunks/test/blobs/uploads/', { method: 'POST' })
  assert.equal(start.status, 202)
  const loc = start.headers.get('location')!
  assert.match(loc, /^\/v2\/chunks\/test\/blobs\/uploads\/[\w-]+$/)
  assert.ok(start.headers.get('docker-upload-uuid'))
  assert.equal(start.headers.get('range'), '0-0')

  const patch = (from: number, to: number): Promise<Response> =>
    reg(loc, { method: 'PATCH', body: data.subarray(from, to), headers: { 'content-range': `${from}-${to - 1}`, 'content-type': 'application/octet-stream' } })
  const first = await patch(0, 100_000)
  assert.equal(first.status, 202)
  assert.equal(first.headers.get('range'), '0-99999')
  const skipped = await patch(200_000, 300_000)
  assert.equal(skipped.status, 416)
  assert.equal(skipped.headers.get('range'), '0-99999')
  const status = await reg(loc)
  assert.equal(status.status, 204)
  assert.equal(status.headers.get('range'), '0-99999')
  assert.equal((await patch(100_000, 200_000)).status, 202)
  const done = await reg(`${loc}?digest=${sha(data)}`, { method: 'PUT', body: data.subarray(200_000), headers: { 'content-range': '200000-299999' } })
  assert.equal(done.status, 201)
  assert.equal(done.headers.get('location'), `/v2/chunks/test/blobs/${sha(data)}`)
  assert.equal(done.headers.get('docker-content-digest'), sha(data))
  assert.equal((await reg(loc)).status, 404) // finished uploads are gone

  const head = await reg(`/v2/chunks/test/blobs/${sha(data)}`, { method: 'HEAD' })
  assert.equal(head.status, 200)
  assert.equal(head.headers.get('content-length'), '300000')
  const part = await reg(`/v2/chunks/test/blobs/${sha(data)}`, { headers: { range: 'bytes=1000-1999' } })
  assert.equal(part.status, 206)
  assert.equal(part.headers.get('content-range'), 'bytes 1000-1999/300000')
  assert.deepEqual(Buffer.from(await part.arrayBuffer()), data.subarray(1000, 2000))
  const tail = await reg(`/v2/chunks/test/blobs/${sha(data)}`, { headers: { range: 'bytes=-10' } })
  assert.deepEqual(Buffer.from(await tail.arrayBuffer()), data.subarray(-10))
  const beyond = await reg(`/v2/chunks/test/blobs/${sha(data)}`, { headers: { range: 'bytes=400000-' } })
  assert.equal(beyond.status, 416)
  assert.equal(beyond.headers.get('content-range'), 'bytes */300000')
  const whole = await reg(`/v2/chunks/test/blobs/${sha(data)}`)
  assert.equal(sha(Buffer.from(await whole.arrayBuffer())), sha(data))
})

test('a wrong digest is DIGEST_INVALID and leaves nothing behind; DELETE cancels; mount links a known blob', async (t) => {
  const d = await startDaemon(t)
  const reg = client(d)
  const data = Buffer.from('the real content\n')
  const wrong = sha('something else')
  const loc = (await reg('/v2/w/x/blobs/uploads/', { method: 'POST' })).headers.get('location')!
  assert.equal((await reg(loc, { method: 'PATCH', body: data })).status, 202)
  const put = await reg(`${loc}?digest=${wrong}`, { method: 'PUT' })
  assert.equal(put.status, 400)
  assert.equal(await errorCode(put), 'DIGEST_INVALID')
  for (const dg of [wrong, sha(data)]) assert.equal((await reg(`/v2/w/x/blobs/${dg}`, { method: 'HEAD' })).status, 404)
  assert.deepEqual(await readdir(join(d.dataDir, 'images', 'ingest')), [])
  assert.equal(await errorCode(await reg(loc)), 'BLOB_UPLOAD_UNKNOWN')

  const mono = await reg(`/v2/w/x/blobs/uploads/?digest=${wrong}`, { method: 'POST', body: data })
  assert.equal(await errorCode(mono), 'DIGEST_INVALID')
  assert.deepEqual(await readdir(join(d.dataDir, 'images', 'ingest')), [])

  const cancel = (await reg('/v2/w/x/blobs/uploads/', { method: 'POST' })).headers.get('location')!
  await reg(cancel, { method: 'PATCH', body: data })
  assert.equal((await reg(cancel, { method: 'DELETE' })).status, 204)
  assert.deepEqual(await readdir(join(d.dataDir, 'images', 'ingest')), [])

  const digest = await pushBlob(reg, 'w/x', data)
  const mount = await reg(`/v2/other/repo/blobs/uploads/?mount=${digest}&from=w/x`, { method: 'POST' })
  assert.equal(mount.status, 201)
  assert.equal(mount.headers.get('location'), `/v2/other/repo/blobs/${digest}`)
  const fallback = await reg(`/v2/other/repo/blobs/uploads/?mount=${wrong}&from=w/x`, { method: 'POST' })
  assert.equal(fallback.status, 202) // unknown blob: an ordinary upload instead
  assert.equal((await reg(`/v2/w/x/blobs/${digest}`, { method: 'DELETE' })).status, 202)
  assert.equal((await reg(`/v2/w/x/blobs/${digest}`, { method: 'HEAD' })).status, 404)
})

test('manifests: missing blobs, unknown media types and oversized bodies are refused; by tag and digest; delete', async (t) => {
  const d = await startDaemon(t)
  const reg = client(d)
  const manifest = await pushImageBlobs(reg, 'm/img')
  const put = (ref: string, body: Buffer | string, type = oci): Promise<Response> =>
    reg(`/v2/m/img/manifests/${ref}`, { method: 'PUT', body, headers: { 'content-type': type } })

  const missing = JSON.parse(manifest.toString())
  missing.layers[0].digest = sha('not pushed')
  const r1 = await put('bad', JSON.stringify(missing))
  assert.equal(r1.status, 400)
  const body1 = (await r1.json()) as { errors: { code: string; detail: { digest: string } }[] }
  assert.equal(body1.errors[0]!.code, 'MANIFEST_BLOB_UNKNOWN')
  assert.equal(body1.errors[0]!.detail.digest, sha('not pushed'))
  const r2 = await put('bad', manifest, 'application/vnd.example.thing+json')
  assert.equal(r2.status, 400)
  assert.equal(await errorCode(r2), 'MANIFEST_INVALID')
  const r3 = await put('bad', Buffer.alloc(5 << 20, 32))
  assert.equal(r3.status, 413)
  assert.equal(await errorCode(r3), 'MANIFEST_INVALID')
  assert.equal(await errorCode(await put(sha('x'), manifest)), 'DIGEST_INVALID')

  const ok = await put('v1', manifest)
  assert.equal(ok.status, 201)
  assert.equal(ok.headers.get('docker-content-digest'), sha(manifest))
  const byTag = await reg('/v2/m/img/manifests/v1', { headers: { accept: `${oci}, application/vnd.oci.image.index.v1+json` } })
  assert.equal(byTag.headers.get('content-type'), oci)
  assert.deepEqual(Buffer.from(await byTag.arrayBuffer()), manifest)
  const head = await reg(`/v2/m/img/manifests/${sha(manifest)}`, { method: 'HEAD' })
  assert.equal(head.status, 200)
  assert.equal(head.headers.get('content-length'), String(manifest.length))
  assert.equal((await d.client.images.get('m/img:v1')).digest, sha(manifest))

  assert.equal((await reg('/v2/m/img/manifests/v1', { method: 'DELETE' })).status, 202)
  const gone = await reg('/v2/m/img/manifests/v1')
  assert.equal(gone.status, 404)
  assert.equal(await errorCode(gone), 'MANIFEST_UNKNOWN')
  assert.equal((await reg('/v2/m/img/manifests/v1', { method: 'HEAD' })).status, 404)
})

test('tags/list and _catalog page with n and last and a Link to the next page', async (t) => {
  const d = await startDaemon(t)
  const reg = client(d)
  const manifest = await pushImageBlobs(reg, 'p/q')
  for (const tag of ['c', 'a', 'b']) {
    assert.equal((await reg(`/v2/p/q/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'content-type': oci } })).status, 201)
  }
  await reg('/v2/p/r/manifests/1', { method: 'PUT', body: manifest, headers: { 'content-type': oci } })
  const all = await reg('/v2/p/q/tags/list')
  assert.deepEqual(await all.json(), { name: 'p/q', tags: ['a', 'b', 'c'] })
  const page1 = await reg('/v2/p/q/tags/list?n=2')
  assert.deepEqual(((await page1.json()) as { tags: string[] }).tags, ['a', 'b'])
  assert.equal(page1.headers.get('link'), '</v2/p/q/tags/list?n=2&last=b>; rel="next"')
  const page2 = await reg('/v2/p/q/tags/list?n=2&last=b')
  assert.deepEqual(((await page2.json()) as { tags: string[] }).tags, ['c'])
  assert.equal(page2.headers.get('link'), null)
  assert.equal(await errorCode(await reg('/v2/no/such/tags/list')), 'NAME_UNKNOWN')

  const cat = (await (await reg('/v2/_catalog')).json()) as { repositories: string[] }
  assert.deepEqual(cat.repositories, ['p/q', 'p/r'])
  const c1 = await reg('/v2/_catalog?n=1')
  assert.deepEqual(await c1.json(), { repositories: ['p/q'] })
  assert.equal(c1.headers.get('link'), '</v2/_catalog?n=1&last=p%2Fq>; rel="next"')
  assert.equal((await reg('/v2/Bad_Name/tags/list')).status, 400)
})

test('a push whose manifest comes after a gc keeps its uploaded blobs', async (t) => {
  const d = await startDaemon(t)
  const reg = client(d)
  const manifest = await pushImageBlobs(reg, 'slow/push')
  await d.client.images.gc()
  const put = await reg('/v2/slow/push/manifests/v1', { method: 'PUT', body: manifest, headers: { 'content-type': oci } })
  assert.equal(put.status, 201, await put.text())
})

test('a layer digest asked for as a manifest is MANIFEST_UNKNOWN, not a read of the layer', async (t) => {
  const d = await startDaemon(t)
  const reg = client(d)
  const big = Buffer.alloc(9 << 20, 7)
  const digest = await pushBlob(reg, 'big/layer', big)
  const res = await reg(`/v2/big/layer/manifests/${digest}`)
  assert.equal(res.status, 404)
  assert.equal(await errorCode(res), 'MANIFEST_UNKNOWN')
})
