/**
 * Where the daemon's registry client may connect: a pull or push aimed at a loopback, private or
 * link-local registry (by address or by a name resolving there), or a registry redirecting to one,
 * is refused unless the operator allows the block (--pull-allow). Every refused connection is
 * refused before it is made: no packet goes to the addresses named here.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import { isHangarError } from '../../../src/errors.ts'
import { openImageStore, pullImage } from '../../../src/images/index.ts'
import { daemonWithBusybox } from '../../support/machines.ts'
import { useTmpDir } from '../../support/images.ts'

const refused = (e: unknown): boolean => isHangarError(e) && e.code === 'pull_target_not_allowed' && e.status === 403

test('a daemon that allows no special block refuses pulls, pushes and creates aimed at loopback, private or link-local registries', async (t) => {
  // A block nothing here uses: the test daemon's usual loopback allowance is not given.
  const d = await daemonWithBusybox(t, 'web', ['--pull-allow', '10.99.0.0/16'])
  const port = new URL(d.url).port
  // Another port than the daemon's own on loopback (its own registry never goes on the network), a name
  // resolving to loopback (/etc/hosts), IPv6 loopback, a private address and cloud metadata's link-local one.
  const targets = [`127.0.0.1:${Number(port) + 1}/x/img:1`, `localhost:${Number(port) + 1}/x/img:1`, `[::1]:${Number(port) + 1}/x/img:1`, '10.1.2.3:5000/x/img:1', '169.254.169.254/x/img:1']
  for (const ref of targets) {
    const e = await d.client.images.pull(ref).then(() => null, (err: unknown) => err)
    assert.ok(refused(e), `${ref}: ${String(e)}`)
    assert.match((e as Error).message, /loopback, private, link-local or otherwise special address/)
  }
  const pushed = await d.client.images.push('busybox:latest', `127.0.0.1:${Number(port) + 1}/x/img:1`).then(() => null, (err: unknown) => err)
  assert.ok(refused(pushed), String(pushed))
  const made = await d.client.machines.create('web', { config: { image: targets[0] as string } }).then(() => null, (err: unknown) => err)
  assert.ok(refused(made), String(made))
  assert.deepEqual(await d.client.machines.list('web'), [])
  // The daemon's own registry is the local store: no connection, so no refusal.
  assert.equal((await d.client.images.pull(`127.0.0.1:${port}/busybox:latest`)).repository, 'busybox')
})

test('a registry allowed on loopback that redirects a blob to a link-local address is refused at the redirect', async (t) => {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] } }))
  const digest = `sha256:${createHash('sha256').update(config).digest('hex')}`
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: config.length }, layers: [],
  }))
  const seen: string[] = []
  const server = createServer((req, res) => {
    seen.push(req.url ?? '')
    if (req.url === '/v2/') return res.end('{}')
    if (req.url === '/v2/x/img/manifests/1') {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' })
      return res.end(manifest)
    }
    // What a CDN redirect looks like, aimed at cloud metadata instead.
    res.writeHead(307, { location: `http://169.254.169.254/latest/meta-data/${digest}` })
    res.end()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => new Promise<void>((r) => server.close(() => r())))
  const store = await openImageStore({ root: `${await useTmpDir(t)}/store`, pullAllow: ['127.0.0.0/8'] })
  const ref = `127.0.0.1:${(server.address() as { port: number }).port}/x/img:1`
  await assert.rejects(pullImage(store, ref), (e: unknown) => refused(e) && /169\.254\.169\.254/.test((e as Error).message))
  assert.ok(seen.includes(`/v2/x/img/blobs/${digest}`), seen.join(' '))
  assert.deepEqual(await store.list(), [])
})
