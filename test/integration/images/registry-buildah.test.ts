/**
 * buildah against /v2: `FROM` an image pushed to Hangar, build on it, push the
 * result back, and the built image is one Hangar lists. buildah keeps its own
 * storage in a temp dir (vfs driver) so the host's containers store is untouched.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startDaemon } from '../../support/daemon.ts'
import { buildBusyboxImage, useTmpDir } from '../../support/images.ts'

const run = promisify(execFile)

test('buildah builds FROM a Hangar-hosted image and pushes the result back', async (t) => {
  const d = await startDaemon(t)
  const dir = await useTmpDir(t)
  const img = await buildBusyboxImage(dir)
  const host = new URL(d.url).host
  const creds = `x:${d.token}`
  await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', creds, `oci-archive:${img.path}`, `docker://${host}/test/busybox:1`])

  const storage = ['--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--storage-driver', 'vfs']
  // After hooks run in the order they were added: the dir's removal comes first, so
  // buildah's own cleanup (which recreates its storage dirs) must remove the dir again.
  t.after(async () => {
    await run('buildah', [...storage, 'rm', '--all']).catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })
  const from = await run('buildah', [...storage, 'from', '--tls-verify=false', '--creds', creds, `${host}/test/busybox:1`])
  assert.match(from.stdout.trim(), /working-container/)
  await writeFile(join(dir, 'Containerfile'), `FROM ${host}/test/busybox:1\nRUN echo built > /www/built.txt\n`)
  await run('buildah', [...storage, 'build', '--isolation', 'chroot', '--tls-verify=false', '--creds', creds, '-t', 'built:1', '-f', join(dir, 'Containerfile'), dir])
  await run('buildah', [...storage, 'push', '--tls-verify=false', '--creds', creds, 'built:1', `docker://${host}/test/built:1`])
  const built = await d.client.images.get('test/built:1')
  assert.equal(built.layers.length, 2)
  assert.equal(built.layers[0], (await d.client.images.get('test/busybox:1')).layers[0])
})
