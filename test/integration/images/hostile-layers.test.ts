/** Layers that try to write outside their directory are refused before GNU tar runs. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { isHangarError } from '../../../src/errors.ts'
import { buildOciImage, listTree, openTestStore, tarBytes, type TarEntry } from '../../support/images.ts'

const cases: { name: string; entries: TarEntry[]; entry: string }[] = [
  { name: 'a ../ path', entries: [{ path: 'ok', body: 'x' }, { path: '../x', body: 'escaped' }], entry: '../x' },
  { name: 'an absolute path', entries: [{ path: '/etc/hangar-x', body: 'escaped' }], entry: '/etc/hangar-x' },
  { name: 'a file below a symlink to /etc', entries: [{ path: 'a', type: 'SymbolicLink', linkpath: '/etc' }, { path: 'a/passwd', body: 'pwned' }], entry: 'a/passwd' },
  { name: 'a file below a relative symlink', entries: [{ path: 'up', type: 'SymbolicLink', linkpath: '..' }, { path: 'up/x', body: 'pwned' }], entry: 'up/x' },
  { name: 'a hard link out of the layer', entries: [{ path: 'h', type: 'Link', linkpath: '../../etc/shadow' }], entry: 'h' },
  { name: 'a hard link to an absolute path', entries: [{ path: 'h', type: 'Link', linkpath: '/etc/shadow' }], entry: 'h' },
  { name: 'a hard link through a symlink', entries: [{ path: 'e', type: 'SymbolicLink', linkpath: '/etc' }, { path: 'h', type: 'Link', linkpath: 'e/shadow' }], entry: 'h' },
]

for (const c of cases) {
  test(`a layer with ${c.name} is rejected, naming the entry, and leaves nothing in the cache`, async (t) => {
    const { store, dir, root } = await openTestStore(t)
    const img = await buildOciImage(dir, [tarBytes(c.entries)], { ref: 'evil:1', name: 'evil' })
    const [rec] = await store.importFile(img.path)
    await assert.rejects(store.unpack(rec!), (e: unknown) => {
      assert.ok(isHangarError(e) && e.code === 'invalid_argument', String(e))
      assert.ok(e.message.includes(`"${c.entry}"`), e.message)
      assert.equal(e.details?.entry, c.entry)
      return true
    })
    assert.deepEqual(await listTree(join(root, 'layers')), [])
    assert.deepEqual(await listTree(join(root, 'layers-by-digest')), [])
    assert.deepEqual(await listTree(join(root, 'ingest')), [])
    await assert.rejects(stat('/etc/hangar-x'), { code: 'ENOENT' })
    await assert.rejects(stat(join(root, '..', 'x')), { code: 'ENOENT' })
  })
}

test('a layer whose content does not match the config diff id is rejected', async (t) => {
  const { store, dir, root } = await openTestStore(t)
  const layer = tarBytes([{ path: 'a', body: 'a' }])
  const img = await buildOciImage(dir, [layer], { ref: 'liar:1', name: 'liar', diffIds: [`sha256:${'0'.repeat(64)}`] })
  const [rec] = await store.importFile(img.path)
  await assert.rejects(store.unpack(rec!), (e: unknown) => isHangarError(e) && e.code === 'invalid_argument' && /image config says/.test(e.message))
  assert.deepEqual(await listTree(join(root, 'layers')), [])
  assert.deepEqual(await listTree(join(root, 'ingest')), [])
})
