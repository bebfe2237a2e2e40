/**
 * Fly's everyday flow on Hangar: push to the platform's registry, then create
 * machines from that reference. A reference on the daemon's own address (its
 * listener, or a public name the operator gives) is the local store: nothing
 * goes out, not even to the daemon itself, and no credentials are needed.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createServer, type Socket } from 'node:net'
import { promisify } from 'node:util'
import { cliMain, nodeBin, startDaemon } from '../../support/daemon.ts'
import { buildBusyboxImage, useTmpDir } from '../../support/images.ts'

const run = promisify(execFile)

test('machines run from a pushed multi-component name, by the full own-registry reference and by the short one, with no request going out', async (t) => {
  // A public name the operator configured; a listener there counts every connection the daemon would make to it.
  const seen: Socket[] = []
  const sentinel = createServer((s) => {
    seen.push(s)
    s.destroy()
  })
  await new Promise<void>((r) => sentinel.listen(0, '127.0.0.1', r))
  t.after(() => sentinel.close())
  const publicHost = `127.0.0.1:${(sentinel.address() as { port: number }).port}`
  const d = await startDaemon(t, ['--public-host', publicHost])
  const host = new URL(d.url).host

  const img = await buildBusyboxImage(await useTmpDir(t), { multiLayer: true })
  await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `x:${d.token}`, `oci-archive:${img.path}`, `docker://${host}/robots/tools/busybox:1`])
  await d.client.apps.create('fly-flow')

  for (const image of [`${host}/robots/tools/busybox:1`, `localhost:${new URL(d.url).port}/robots/tools/busybox:1`, `${publicHost}/robots/tools/busybox:1`, 'robots/tools/busybox:1']) {
    const m = await d.client.machines.create('fly-flow', { config: { image, init: { cmd: ['sleep', '600'] } } })
    assert.equal(m.state, 'started', image)
    assert.equal(m.image_ref.digest, img.manifestDigest, image)
    assert.equal(m.image_ref.repository, 'robots/tools/busybox', image)
    // Stored as the local name: a port or public name that changes later does not strand the machine.
    assert.equal(m.config.image, 'robots/tools/busybox:1', image)
    const events = await d.client.machines.events('fly-flow', m.id, 50)
    assert.equal(events.filter((e) => e.type === 'pull').length, 0, `${image}: no pull was logged`)
  }
  assert.equal(seen.length, 0, 'the daemon never connected to its public name')

  // image pull on our own address needs no credentials and answers the local image; push there is a local tag.
  const pulled = await d.client.images.pull(`${host}/robots/tools/busybox:1`)
  assert.equal(pulled.digest, img.manifestDigest)
  const cli = (...args: string[]) => run(nodeBin, [cliMain, ...args], { env: d.env })
  const pushed = JSON.parse((await cli('image', 'push', 'robots/tools/busybox:1', `${publicHost}/robots/copy:2`, '--json')).stdout)
  assert.equal(pushed.digest, img.manifestDigest)
  assert.equal((await d.client.images.get('robots/copy:2')).digest, img.manifestDigest)
  assert.equal(seen.length, 0, 'pull and push stayed local')

  // A name that is not there says so, with what to do, instead of a 401 from ourselves.
  await assert.rejects(d.client.machines.create('fly-flow', { config: { image: `${host}/robots/missing:1` } }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'image_not_found')
    return true
  })
  await assert.rejects(d.client.images.pull(`${host}/robots/missing:1`), (e: Error & { code?: string; hint?: string }) => {
    assert.equal(e.code, 'image_not_found')
    assert.match(e.hint ?? '', /push the image there first/)
    return true
  })
})
