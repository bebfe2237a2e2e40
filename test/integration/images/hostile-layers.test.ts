/** Layers that try to write outside their directory are refused before GNU tar runs. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { lstat, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { spawnSync } from 'node:child_process'
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
  // node-tar skips a link's body, GNU tar reads it as the next header: an entry hidden from the check.
  { name: 'a hard link carrying a body (a hidden entry)', entries: [{ path: 'a', body: 'a' }, { path: 'l', type: 'Link', linkpath: 'a', forceBody: true, body: tarBytes([{ path: 'hidden', body: 'x' }]).subarray(0, 1024) }], entry: 'l' },
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

// Whiteouts are applied after GNU tar has run, so a layer can try to aim them
// through a symlink it declares later, or through a hard link to a symlink.
// The target is a canary directory of the test's own, never a host path.
const whiteoutCases = (canary: string): { name: string; entries: TarEntry[] }[] => [
  { name: 'a whiteout under a symlink declared after it', entries: [{ path: 'x/.wh.victim', body: '' }, { path: 'x', type: 'SymbolicLink', linkpath: canary }] },
  { name: 'a whiteout under a hard link to a symlink', entries: [{ path: 's', type: 'SymbolicLink', linkpath: canary }, { path: 'h', type: 'Link', linkpath: 's' }, { path: 'h/.wh.victim', body: '' }] },
  { name: 'an opaque marker under a symlink declared after it', entries: [{ path: 'o/.wh..wh..opq', body: '' }, { path: 'o', type: 'SymbolicLink', linkpath: canary }] },
]

for (const name of whiteoutCases('/x').map((c) => c.name)) {
  test(`${name} never touches what the link points to`, async (t) => {
    const { store, dir, root } = await openTestStore(t)
    const canary = join(dir, 'canary')
    await mkdir(canary)
    await writeFile(join(canary, 'victim'), 'still here')
    const c = whiteoutCases(canary).find((x) => x.name === name)!
    const img = await buildOciImage(dir, [tarBytes(c.entries)], { ref: 'evil:2', name: 'evil' })
    const [rec] = await store.importFile(img.path)
    await store.unpack(rec!).then(
      () => {},
      (e: unknown) => assert.ok(isHangarError(e) && e.code === 'invalid_argument', String(e)),
    )
    assert.equal(await readFile(join(canary, 'victim'), 'utf8'), 'still here')
    assert.equal((await lstat(join(canary, 'victim'))).isFile(), true)
    const xattr = spawnSync('getfattr', ['-n', 'trusted.overlay.opaque', canary], { encoding: 'utf8' })
    assert.doesNotMatch(xattr.stdout ?? '', /opaque/)
    void root
  })
}
