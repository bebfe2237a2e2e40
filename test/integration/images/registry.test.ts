/**
 * Hangar's /v2 registry with real clients: skopeo pushes an OCI archive with
 * a Hangar token as the password (Docker's token flow), inspects it, copies it
 * back out with the same digests; the pushed image is a Hangar image a machine runs.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startDaemon } from '../../support/daemon.ts'
import { buildBusyboxImage, useTmpDir } from '../../support/images.ts'

const run = promisify(execFile)

test('skopeo pushes into /v2, inspects, and copies back out with the same digests; the image runs', async (t) => {
  const d = await startDaemon(t)
  const dir = await useTmpDir(t)
  const img = await buildBusyboxImage(dir, { multiLayer: true })
  const host = new URL(d.url).host
  const creds = `x:${d.token}`
  await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', creds, `oci-archive:${img.path}`, `docker://${host}/test/busybox:1`])

  const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', '--creds', creds, `docker://${host}/test/busybox:1`])
  const info = JSON.parse(stdout) as { Digest: string; Layers: string[]; Architecture: string }
  assert.equal(info.Digest, img.manifestDigest)
  assert.equal(info.Layers.length, 2)
  assert.equal(info.Architecture, 'amd64')

  await run('skopeo', ['copy', '--src-tls-verify=false', '--src-creds', creds, `docker://${host}/test/busybox:1`, `oci:${join(dir, 'out')}:bb`])
  const index = JSON.parse(await readFile(join(dir, 'out', 'index.json'), 'utf8')) as { manifests: { digest: string }[] }
  assert.equal(index.manifests[0]!.digest, img.manifestDigest)
  const manifest = JSON.parse(await readFile(join(dir, 'out', 'blobs', 'sha256', img.manifestDigest!.slice(7)), 'utf8')) as { layers: { digest: string }[] }
  assert.deepEqual(manifest.layers.map((l) => l.digest), info.Layers)

  const listed = await d.client.images.list()
  const pushed = listed.find((i) => i.ref === 'test/busybox:1')
  assert.ok(pushed, `test/busybox:1 in ${listed.map((i) => i.ref).join(', ')}`)
  assert.equal(pushed.digest, img.manifestDigest)

  await d.client.apps.create('reg')
  const m = await d.client.machines.create('reg', { config: { image: 'test/busybox:1', init: { exec: ['cat', '/www/index.html'] } } })
  assert.equal(m.config.image, 'test/busybox:1')
})

test('skopeo without credentials is refused, and with a wrong token too', async (t) => {
  const d = await startDaemon(t)
  const dir = await useTmpDir(t)
  const img = await buildBusyboxImage(dir)
  const host = new URL(d.url).host
  await assert.rejects(run('skopeo', ['copy', '--dest-tls-verify=false', `oci-archive:${img.path}`, `docker://${host}/test/busybox:1`]), /401|unauthorized|authentication required/i)
  await assert.rejects(run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', 'x:nope', `oci-archive:${img.path}`, `docker://${host}/test/busybox:1`]), /401|unauthorized/i)
  assert.equal((await d.client.images.list()).some((i) => i.ref === 'test/busybox:1'), false)
})

test('an image index pushed with --all is stored whole and runs as its linux/amd64 image', async (t) => {
  const d = await startDaemon(t)
  const dir = await useTmpDir(t)
  const img = await buildBusyboxImage(dir, { index: true })
  const host = new URL(d.url).host
  await run('skopeo', ['copy', '--all', '--dest-tls-verify=false', '--dest-creds', `x:${d.token}`, `oci-archive:${img.path}`, `docker://${host}/multi/busybox:2`])
  const rec = await d.client.images.get('multi/busybox:2')
  assert.notEqual(rec.digest, img.manifestDigest) // the index's digest, as docker shows a repo digest
  assert.equal(rec.layers.length, 1)
  const res = await fetch(`${d.url}/v2/multi/busybox/manifests/2`, { headers: { authorization: `Bearer ${d.token}`, accept: 'application/vnd.oci.image.manifest.v1+json' } })
  assert.equal(res.status, 200)
  assert.equal(res.headers.get('docker-content-digest'), img.manifestDigest) // an index-blind client gets the amd64 manifest
})
