/**
 * The pull and push clients against Hangar's own registry on loopback: one
 * daemon pulls what was pushed to another (token flow, digests checked), the
 * CLI pushes between them, a machine is created straight from a remote
 * reference, and a layer cut off mid-download resumes from what is in ingest.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createServer as createHttpServer } from 'node:http'
import { createServer, connect, type Socket } from 'node:net'
import { promisify } from 'node:util'
import { openImageStore, pullImage } from '../../../src/images/index.ts'
import { cliMain, nodeBin, startDaemon } from '../../support/daemon.ts'
import { buildBusyboxImage, useTmpDir } from '../../support/images.ts'

/** The registries these tests and benches use run on loopback, which pulls and pushes refuse unless allowed. */
const loopback = ['127.0.0.0/8', '::1/128']

const run = promisify(execFile)

async function pushFixture(url: string, token: string, ref: string, t: Parameters<typeof useTmpDir>[0]): Promise<string> {
  const dir = await useTmpDir(t)
  const img = await buildBusyboxImage(dir, { multiLayer: true })
  await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `x:${token}`, `oci-archive:${img.path}`, `docker://${new URL(url).host}/${ref}`])
  return img.manifestDigest!
}

test('a second daemon pulls from the first, with credentials, and gets the same digests', async (t) => {
  const [a, b] = [await startDaemon(t), await startDaemon(t)]
  const digest = await pushFixture(a.url, a.token, 'test/busybox:1', t)
  const ref = `${new URL(a.url).host}/test/busybox:1`
  await assert.rejects(b.client.images.pull(ref), /refused|credentials/)
  const events: string[] = []
  const img = await b.client.images.pull(ref, { credentials: { username: 'x', password: a.token }, onProgress: (p) => events.push(p.phase) })
  assert.equal(img.ref, ref)
  assert.equal(img.digest, digest)
  assert.deepEqual(img.layers, (await a.client.images.get('test/busybox:1')).layers)
  assert.ok(events.includes('blob') && events.at(-1) === 'done', events.join(','))
  await b.client.apps.create('pulled')
  const m = await b.client.machines.create('pulled', { config: { image: ref } })
  assert.equal(m.state, 'started')
})

test('hangar image push and pull move an image between daemons', async (t) => {
  const [a, b] = [await startDaemon(t), await startDaemon(t)]
  await pushFixture(a.url, a.token, 'src/busybox:1', t)
  const bHost = new URL(b.url).host
  const cli = (d: typeof a, ...args: string[]) => run(nodeBin, [cliMain, ...args], { env: d.env })
  const pushed = await cli(a, 'image', 'push', 'src/busybox:1', `${bHost}/robots/busybox:2`, '--creds', `x:${b.token}`, '--json')
  assert.equal(JSON.parse(pushed.stdout).ref, `${bHost}/robots/busybox:2`)
  assert.equal((await b.client.images.get('robots/busybox:2')).digest, (await a.client.images.get('src/busybox:1')).digest)

  const pulled = await cli(a, 'image', 'pull', `${bHost}/robots/busybox:2`, '--creds', `x:${b.token}`, '--json')
  assert.equal(JSON.parse(pulled.stdout).ref, `${bHost}/robots/busybox:2`)
  assert.equal((await a.client.images.get(`${bHost}/robots/busybox:2`)).layers.length, 2)
})

test('creating a machine from a reference on a registry pulls it first', async (t) => {
  const [a, b] = [await startDaemon(t), await startDaemon(t)]
  const digest = await pushFixture(a.url, a.token, 'test/busybox:1', t)
  // machines.create pulls anonymously, so put an open registry in front of a: a proxy that adds a's token.
  const open = createHttpServer(async (req, res) => {
    const up = await fetch(new URL(req.url!, a.url), { method: req.method!, headers: { authorization: `Bearer ${a.token}`, accept: req.headers.accept ?? '*/*', ...(req.headers.range ? { range: req.headers.range } : {}) } })
    res.writeHead(up.status, Object.fromEntries(up.headers))
    res.end(Buffer.from(await up.arrayBuffer()))
  })
  await new Promise<void>((r) => open.listen(0, '127.0.0.1', r))
  t.after(() => open.close())
  const ref = `127.0.0.1:${(open.address() as { port: number }).port}/test/busybox:1`
  await b.client.apps.create('direct')
  const m = await b.client.machines.create('direct', { config: { image: ref } })
  assert.equal(m.state, 'started')
  assert.equal((await b.client.images.get(ref)).digest, digest)
  // The pull is in the machine's own event log, before its launch.
  const types = (await b.client.machines.events('direct', m.id, 50)).reverse()
  const pulls = types.filter((e) => e.type === 'pull')
  assert.deepEqual([pulls[0]?.request?.phase, pulls.at(-1)?.request?.phase], ['started', 'done'])
  assert.ok(pulls.some((e) => e.request?.phase === 'blob'), 'each layer is logged')
  assert.ok(types.findIndex((e) => e.type === 'launch') > types.findIndex((e) => e.type === 'pull'))
  assert.deepEqual(m.image_ref.exposed_ports, ['8080/tcp'])
  const missing = b.client.machines.create('direct', { config: { image: ref.replace('busybox:1', 'missing:1') } })
  await assert.rejects(missing, (e: Error & { code?: string }) => e.code === 'image_not_found')
})

test('a layer download cut off halfway resumes with a Range request and verifies', async (t) => {
  const a = await startDaemon(t)
  const digest = await pushFixture(a.url, a.token, 'test/busybox:1', t)
  // A TCP proxy that cuts the first blob response after 64 KiB and passes everything else.
  const upstream = new URL(a.url)
  let cut = false
  const ranges: string[] = []
  const proxy = createServer((client: Socket) => {
    const server = connect(Number(upstream.port), upstream.hostname)
    let sent = 0
    let isBlob = false
    client.on('data', (d: Buffer) => {
      const head = d.toString('latin1')
      // Connections are reused: judge each request on its own.
      isBlob = /^GET \/v2\/.+\/blobs\/sha256:/.test(head)
      sent = 0
      const r = /\r\nrange: (.+)\r\n/i.exec(head)
      if (r) ranges.push(r[1]!)
      server.write(d)
    })
    server.on('data', (d: Buffer) => {
      if (server.destroyed) return
      sent += d.length
      if (isBlob && !cut && sent > 64 * 1024) {
        cut = true
        // Drop the connection a moment later: undici discards body bytes still queued when the socket errors.
        client.write(d.subarray(0, d.length - (sent - 64 * 1024)))
        server.destroy()
        setTimeout(() => client.destroy(), 100)
        return
      }
      client.write(d)
    })
    server.on('error', () => client.destroy())
    client.on('error', () => server.destroy())
    server.on('close', () => !cut && client.end())
  })
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
  t.after(() => proxy.close())
  const dir = await useTmpDir(t)
  const store = await openImageStore({ root: `${dir}/store`, pullAllow: loopback })
  const port = (proxy.address() as { port: number }).port
  const img = await pullImage(store, `127.0.0.1:${port}/test/busybox:1`, { credentials: { username: 'x', password: a.token } })
  assert.equal(img.digest, digest)
  assert.ok(cut, 'the proxy cut a blob download')
  assert.ok(ranges.some((r) => /^bytes=[1-9]\d*-$/.test(r)), `a resumed Range request was made: ${ranges.join(', ')}`)
  assert.equal((await store.unpack(img)).length, 2)
})
