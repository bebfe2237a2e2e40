import { test } from 'node:test'
import assert from 'node:assert/strict'
import { HangarError, isHangarError, toHangarError } from '../errors.ts'
import { DiskGuard } from './disk.ts'

const MB = 1 << 20

test('below the floor, assertRoom refuses with a 507 disk_full naming the data dir', () => {
  let free = 300 * MB
  const disk = new DiskGuard({ dir: '/data', minFreeBytes: 256 * MB, free: () => free })
  disk.assertRoom()
  free = 100 * MB
  assert.throws(() => disk.assertRoom(), (e: unknown) => {
    assert.ok(isHangarError(e))
    assert.equal(e.code, 'disk_full')
    assert.equal(e.status, 507)
    assert.match(e.message, /100\.0 MB free, under the 256\.0 MB .*--min-free-disk/)
    assert.match(e.hint, /df \/data/)
    return true
  })
})

test('a floor of 0 never refuses', () => {
  const disk = new DiskGuard({ dir: '/data', minFreeBytes: 0, free: () => 0 })
  disk.assertRoom()
})

test('ENOSPC and SQLITE_FULL anywhere in the cause chain become disk_full; other errors stay as they are', () => {
  const disk = new DiskGuard({ dir: '/data', minFreeBytes: 0, free: () => 0 })
  const enospc = Object.assign(new Error('ENOSPC: no space left on device, mkdir'), { code: 'ENOSPC' })
  const wrapped = new HangarError('runtime_error', 'machine x already exists on this host', { cause: enospc })
  assert.equal(disk.asDiskFull(wrapped, 'create')?.code, 'disk_full')
  assert.match(disk.asDiskFull(wrapped, 'create')?.hint ?? '', /\/data/)
  const sqlite = Object.assign(new Error('database or disk is full'), { code: 'ERR_SQLITE_ERROR', errcode: 13 })
  assert.equal(toHangarError(sqlite).code, 'disk_full')
  assert.equal(toHangarError(enospc).code, 'disk_full')
  assert.equal(disk.asDiskFull(new Error('EACCES'), 'create'), undefined)
  assert.equal(toHangarError(new Error('boom')).code, 'internal')
})

test('the watch calls back once each time a full disk has room again', async (t) => {
  let free = 0
  const disk = new DiskGuard({ dir: '/data', minFreeBytes: 0, free: () => free })
  t.after(() => disk.close())
  let calls = 0
  disk.watch(5, () => calls++)
  await new Promise((r) => setTimeout(r, 30))
  assert.equal(calls, 0)
  free = 100 * MB
  await new Promise((r) => setTimeout(r, 30))
  assert.equal(calls, 1)
  free = 0
  await new Promise((r) => setTimeout(r, 30))
  free = 100 * MB
  await new Promise((r) => setTimeout(r, 30))
  assert.equal(calls, 2)
})
