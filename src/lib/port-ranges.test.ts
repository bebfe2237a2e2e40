import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatPortRanges, parsePortRanges, portAllowed, PortRangeError } from './port-ranges.ts'

test('port ranges: single ports and ranges parse, and only their ports are allowed', () => {
  const r = parsePortRanges(['10000-10999', ' 15432 '])
  assert.deepEqual(r, [{ first: 10000, last: 10999 }, { first: 15432, last: 15432 }])
  for (const p of [10000, 10500, 10999, 15432]) assert.ok(portAllowed(r, p), String(p))
  for (const p of [22, 9999, 11000, 15431, 4280]) assert.ok(!portAllowed(r, p), String(p))
  assert.equal(formatPortRanges(r), '10000-10999, 15432')
  assert.deepEqual(parsePortRanges(['none']), [])
  assert.equal(formatPortRanges([]), 'none')
})

test('port ranges: malformed entries are refused, naming the entry', () => {
  for (const bad of ['0', '65536', '10-5', 'ssh', '1000-', '-5', '1,2', '100000']) {
    assert.throws(() => parsePortRanges([bad]), (e: Error) => e instanceof PortRangeError && e.message.includes(bad), bad)
  }
})
