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

// Archives the two tar readers (node-tar for the check, GNU tar for extraction) read differently:
// each is refused, so nothing is extracted that the check did not see. Headers are written by hand.
function header(name: string, type: string, size: number): Buffer {
  const h = Buffer.alloc(512)
  h.write(name, 0, 100)
  h.write('0000644\0', 100)
  h.write('0000000\0', 108)
  h.write('0000000\0', 116)
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124)
  h.write('00000000000\0', 136)
  h.write(type, 156)
  h.write('ustar\0' + '00', 257)
  h.fill(' ', 148, 156)
  let sum = 0
  for (const b of h) sum += b
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148)
  return h
}
const block = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)])
const member = (name: string, type: string, body: string): Buffer => Buffer.concat([header(name, type, Buffer.byteLength(body)), block(Buffer.from(body))])
const paxRecords = (kv: Record<string, string>): string =>
  Object.entries(kv).map(([k, v]) => {
    const rest = ` ${k}=${v}\n`
    let n = rest.length + 1
    while (String(n).length + rest.length !== n) n++
    return `${n}${rest}`
  }).join('')
const end = Buffer.alloc(1024)

const disagreements: { name: string; tar: Buffer; entry: string }[] = [
  // GNU tar takes the PAX path, node-tar the GNU long name that follows it.
  { name: 'a PAX path and a GNU long name for one entry', tar: Buffer.concat([member('PaxHeaders/x', 'x', paxRecords({ path: 'from-pax' })), member('././@LongLink', 'L', 'from-gnu-long\0'), member('short', '0', 'x'), end]), entry: 'from-pax' },
  // GNU tar stops at a lone zero block; node-tar reads on.
  { name: 'an entry after a lone zero block', tar: Buffer.concat([member('a', '0', 'a'), Buffer.alloc(512), member('hidden', '0', 'h'), end]), entry: 'hidden' },
  // GNU tar restores a PAX sparse file's real name; node-tar sees the stand-in path.
  { name: 'a PAX sparse file', tar: Buffer.concat([member('PaxHeaders/x', 'x', paxRecords({ 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': 'real-name', 'GNU.sparse.realsize': '1' })), member('GNUSparseFile.0/real-name', '0', '1\n0\n1\nx'), end]), entry: 'real-name' },
]

for (const c of disagreements) {
  test(`a layer with ${c.name} (read differently by the two tar readers) is rejected, naming the entry`, async (t) => {
    const { store, dir, root } = await openTestStore(t)
    const img = await buildOciImage(dir, [c.tar], { ref: 'split:1', name: 'split' })
    const [rec] = await store.importFile(img.path)
    await assert.rejects(store.unpack(rec!), (e: unknown) => {
      assert.ok(isHangarError(e) && e.code === 'invalid_argument', String(e))
      assert.match(e.message, /read differently by the two tar readers/)
      assert.equal(e.details?.entry, c.entry)
      return true
    })
    assert.deepEqual(await listTree(join(root, 'layers')), [])
    assert.deepEqual(await listTree(join(root, 'ingest')), [])
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
