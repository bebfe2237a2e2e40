import { test } from 'node:test'
import assert from 'node:assert/strict'
import { byteLength, clipEnd, clipMiddle, pageItems, pageLines } from './budget.ts'

test('clipMiddle keeps head and tail, counts what it cut, leaves short text alone', () => {
  assert.deepEqual(clipMiddle('short', 100), { text: 'short', omitted: 0 })
  const text = 'a'.repeat(600) + 'b'.repeat(400) + 'c'.repeat(1000)
  const r = clipMiddle(text, 1000, (n) => `<${n}>`)
  assert.equal(r.omitted, 1000)
  assert.ok(r.text.startsWith('a'.repeat(600) + '\n<1000>\n'))
  assert.ok(r.text.endsWith('c'.repeat(400)))
})

test('clipping never splits a UTF-8 character', () => {
  const text = 'é'.repeat(1000)
  for (const max of [99, 100, 101]) {
    for (const r of [clipMiddle(text, max), clipEnd(text, max)]) {
      assert.ok(!r.text.includes('\uFFFD'), `max ${max}`)
      assert.equal(byteLength(r.text.replace(/\n?\[truncated: \d+ more bytes\]\n?/, '')) + r.omitted, 2000)
    }
  }
})

test('pageItems pages with next_offset', () => {
  assert.deepEqual(pageItems([1, 2, 3, 4, 5], 0, 2), { items: [1, 2], total: 5, next_offset: 2 })
  assert.deepEqual(pageItems([1, 2, 3, 4, 5], 4, 2), { items: [5], total: 5, next_offset: null })
})

const lines = (...ts: string[]) => ts.map((timestamp, i) => ({ timestamp, message: `m${i}` }))

test('pageLines without since keeps the newest lines; with since the oldest after it', () => {
  const all = lines('1', '2', '3', '4', '5')
  assert.deepEqual(pageLines(all, { maxLines: 2, maxBytes: 1000 }), { lines: all.slice(3), cursor: '5#1', more: false })
  assert.deepEqual(pageLines(all, { since: '2#1', maxLines: 2, maxBytes: 1000 }), { lines: all.slice(2, 4), cursor: '4#1', more: true })
  assert.deepEqual(pageLines(all, { since: '5#1', maxLines: 2, maxBytes: 1000 }), { lines: [], cursor: '5#1', more: false })
  assert.deepEqual(pageLines(all, { since: '2', maxLines: 2, maxBytes: 1000 }).lines, all.slice(2, 4), 'a bare timestamp means all its lines were seen')
  assert.deepEqual(pageLines([], { maxLines: 2, maxBytes: 1000 }), { lines: [], cursor: null, more: false })
})

test('pageLines pages through lines sharing a timestamp without losing any, and respects the byte budget', () => {
  const all = lines('1', '2', '2', '2', '3')
  const seen: typeof all = []
  let cursor = '0'
  for (let i = 0; i < 10; i++) {
    const page = pageLines(all, { since: cursor, maxLines: 2, maxBytes: 1000 })
    seen.push(...page.lines)
    cursor = page.cursor as string
    if (!page.more) break
  }
  assert.deepEqual(seen, all, 'every line once, in order')
  assert.equal(pageLines(lines('1', '2', '3', '4'), { since: '0', maxLines: 10, maxBytes: 6 }).lines.length, 2)
  const huge = pageLines([{ timestamp: '1', message: 'x'.repeat(5000) }], { maxLines: 10, maxBytes: 100 })
  assert.ok(byteLength(huge.lines[0]?.message ?? '') < 200)
})
