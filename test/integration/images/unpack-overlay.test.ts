/** Unpacked layers are overlayfs lowers: whiteouts, opaque dirs and hard links work in a real mount. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { openImageStore } from '../../../src/images/index.ts'
import { buildBusyboxImage, openTestStore } from '../../support/images.ts'

const run = promisify(execFile)

test('a multi-layer image unpacks whiteouts as 0/0 char devices, the opaque xattr and hard links', async (t) => {
  const { store, dir } = await openTestStore(t)
  const [rec] = await store.importFile((await buildBusyboxImage(dir, { multiLayer: true })).path)
  const [base, top] = await store.unpack(rec!)

  const wh = await stat(join(top!, 'etc/motd'))
  assert.ok(wh.isCharacterDevice())
  assert.equal(wh.rdev, 0)
  await assert.rejects(stat(join(top!, 'etc/.wh.motd')), { code: 'ENOENT' })
  await assert.rejects(stat(join(top!, 'opaque/.wh..wh..opq')), { code: 'ENOENT' })
  const { stdout } = await run('getfattr', ['--absolute-names', '-n', 'trusted.overlay.opaque', '--only-values', join(top!, 'opaque')])
  assert.equal(stdout, 'y')

  const [file, link] = await Promise.all([stat(join(top!, 'data/file')), stat(join(top!, 'data/link'))])
  assert.equal(file.ino, link.ino)
  assert.equal(file.nlink, 2)

  const bb = await stat(join(base!, 'bin/busybox'))
  assert.equal(bb.mode & 0o777, 0o755)
  assert.equal((await stat(join(base!, 'tmp'))).mode & 0o7777, 0o1777)
  assert.equal(await readFile(join(base!, 'etc/motd'), 'utf8'), 'deleted by layer 2\n')
})

test('a real overlay mount of the layers hides the deleted file and replaces the opaque dir', async (t) => {
  const { store, dir } = await openTestStore(t)
  const [rec] = await store.importFile((await buildBusyboxImage(dir, { multiLayer: true })).path)
  const lowers = await store.unpack(rec!)
  const [upper, work, merged] = ['upper', 'work', 'merged'].map((n) => join(dir, n))
  for (const d of [upper!, work!, merged!]) await mkdir(d)
  // Top layer first in lowerdir.
  const opts = `lowerdir=${[...lowers].reverse().join(':')},upperdir=${upper},workdir=${work}`
  await run('mount', ['-t', 'overlay', 'overlay', '-o', opts, merged!])
  // Unmount inside the test: t.after hooks run in order, and the tmp dir's removal was registered first.
  try {
    await assert.rejects(stat(join(merged!, 'etc/motd')), { code: 'ENOENT' })
    assert.equal(await readFile(join(merged!, 'etc/passwd'), 'utf8'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n')
    assert.deepEqual((await readdir(join(merged!, 'opaque'))).sort(), ['new.txt'])
    assert.equal(await readFile(join(merged!, 'data/link'), 'utf8'), 'linked\n')
    assert.equal(await readFile(join(merged!, 'www/index.html'), 'utf8'), 'hello from hangar\n')
    const { stdout } = await run(join(merged!, 'bin/busybox'), ['echo', 'busybox runs'])
    assert.equal(stdout, 'busybox runs\n')
  } finally {
    await run('umount', [merged!])
  }
})

test('concurrent unpacks of one image, in one store or two, share one directory per layer', async (t) => {
  const { store, dir, root } = await openTestStore(t)
  const [rec] = await store.importFile((await buildBusyboxImage(dir, { multiLayer: true })).path)
  const other = await openImageStore({ root }) // a second process's view of the same root
  const results = await Promise.all([store.unpack(rec!), store.unpack(rec!), other.unpack(rec!), other.unpack(rec!)])
  for (const r of results) assert.deepEqual(r, results[0])
  assert.equal((await readdir(join(root, 'layers'))).length, 2)
  assert.deepEqual(await readdir(join(root, 'ingest')), [])
  // Short ids keep a long overlay stack inside one page of mount options.
  for (const d of results[0]!) assert.match(d, /\/layers\/[a-z0-9]{12}$/)
})
