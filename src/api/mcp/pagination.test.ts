import { test } from 'node:test'
import assert from 'node:assert/strict'
import { after, checkPageSize, cursorAfter, firstPage, readCursor } from './pagination.ts'
import { RpcError } from './requests.ts'

const invalidParams = (e: unknown): boolean => e instanceof RpcError && e.code === -32602

test('a page holds the first items after the cursor; the cursor names its last item, absent on the last page', async () => {
  const all = Array.from({ length: 23 }, (_, i) => `t${String(i).padStart(2, '0')}`)
  const seen: string[] = []
  let cursor: string | undefined
  let pages = 0
  do {
    const page = await firstPage('tools', after('tools', all, (t) => t, cursor), (t) => t, 10)
    seen.push(...page.items)
    cursor = page.nextCursor
    pages++
  } while (cursor)
  assert.deepEqual(seen, all)
  assert.equal(pages, 3)
  assert.equal(readCursor('tools', cursorAfter('tools', 't09')), 't09')
})

test('exactly one full page has no next cursor', async () => {
  assert.equal((await firstPage('tools', ['a', 'b'], (t) => t, 2)).nextCursor, undefined)
})

test('a lazy source is read one item past the page, no further', async () => {
  let read = 0
  async function* source(): AsyncGenerator<number> {
    for (let i = 0; ; i++) {
      read++
      yield i
    }
  }
  const page = await firstPage('resources', source(), String, 10)
  assert.equal(page.items.length, 10)
  assert.ok(page.nextCursor)
  assert.equal(read, 11)
})

test('cursors this server did not make, made for another list, or naming a missing item are -32602', () => {
  assert.throws(() => readCursor('tools', 'not-a-cursor!'), invalidParams)
  assert.throws(() => readCursor('tools', Buffer.from('{"x":1}').toString('base64url')), invalidParams)
  assert.throws(() => readCursor('tools', cursorAfter('resources', 'hangar://apps/a/status')), (e) => invalidParams(e) && /belongs to resources\/list/.test((e as Error).message))
  assert.throws(() => after('tools', ['a', 'b'], (t) => t, cursorAfter('tools', 'zzz')), invalidParams)
  assert.equal(readCursor('tools', undefined), undefined)
})

test('a page size below 1 or fractional is refused', () => {
  assert.equal(checkPageSize(1), 1)
  for (const bad of [0, -3, 2.5, Number.NaN]) assert.throws(() => checkPageSize(bad), (e) => (e as { code?: string }).code === 'invalid_argument')
})
