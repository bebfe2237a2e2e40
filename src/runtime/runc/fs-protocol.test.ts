import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileError, fromHelperString, parseEntry, parseStatus, tarError } from './fs-protocol.ts'

test('names are rebuilt byte for byte from the helper\'s \\u00XX escapes, UTF-8 included', () => {
  // "é" is C3 A9 in UTF-8: the helper escapes each byte.
  const line = '{"name":"caf\\u00c3\\u00a9 \\"q\\"\\u000a","path":"/d/caf\\u00c3\\u00a9 \\"q\\"\\u000a","type":"file","size":3,"mode":420,"uid":1000,"gid":1000,"mtime":1700000000.500000000}'
  const e = parseEntry(line)
  assert.equal(e.name, 'café "q"\n')
  assert.equal(e.path, '/d/café "q"\n')
  assert.equal(e.modTime, '2023-11-14T22:13:20.500Z')
  assert.equal(e.isDir, false)
  assert.equal(e.mode, 0o644)
  assert.equal(fromHelperString('\u00ff'), '\ufffd') // not UTF-8: marked, not dropped
})

test('a symlink keeps its target; an unknown type is a runtime error', () => {
  const e = parseEntry('{"name":"escape","path":"/escape","type":"symlink","size":1,"mode":511,"uid":0,"gid":0,"mtime":1,"target":"/"}')
  assert.equal(e.target, '/')
  assert.throws(() => parseEntry('{"name":"x","path":"/x","type":"socket","size":0,"mode":0,"uid":0,"gid":0,"mtime":0}'), /unknown type/)
})

test('status lines: ok with its fields, or an errno with where it happened', () => {
  assert.deepEqual(parseStatus('{"ok":true,"size":5,"mode":493}'), { ok: true, size: 5, mode: 493 })
  const s = parseStatus('{"errno":"ENOTEMPTY","op":"delete","step":"rmdir","path":"/d","message":"Directory not empty"}')
  assert.deepEqual(s, { ok: false, errno: 'ENOTEMPTY', op: 'delete', step: 'rmdir', path: '/d', message: 'Directory not empty' })
  assert.throws(() => parseStatus('garbage'), /unreadable/)
})

test('errno names map to codes with their HTTP status; details carry errno and path', () => {
  const cases: [string, string, number][] = [
    ['ENOENT', 'file_not_found', 404], ['EISDIR', 'is_a_directory', 400], ['ENOTDIR', 'not_a_directory', 400],
    ['ENOTEMPTY', 'directory_not_empty', 409], ['EEXIST', 'file_exists', 409], ['EACCES', 'file_permission_denied', 403],
    ['ENOSPC', 'machine_disk_full', 507], ['EDQUOT', 'machine_disk_full', 507], ['ELOOP', 'file_error', 400],
  ]
  for (const [errno, code, status] of cases) {
    const e = fileError({ errno, op: 'write', step: 'write', path: '/f', message: 'm' })
    assert.equal(e.code, code, errno)
    assert.equal(e.status, status, errno)
    assert.deepEqual(e.details, { errno, path: '/f' })
  }
})

test('busybox tar\'s words for a full disk still read as machine_disk_full', () => {
  assert.equal(tarError('tar: write error: Disk quota exceeded\n', '/d', 1).code, 'machine_disk_full')
  assert.equal(tarError('tar: write error: Disk quota exceeded\n', '/d', 1).details?.errno, 'EDQUOT')
  assert.equal(tarError('tar: short read\n', '/d', 1).code, 'file_error')
})
