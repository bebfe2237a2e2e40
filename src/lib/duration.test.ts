import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseDurationMs, formatDurationMs } from './duration.ts'

test('parses Go duration strings and nanosecond numbers', () => {
  assert.equal(parseDurationMs('10s'), 10_000)
  assert.equal(parseDurationMs('1m30s'), 90_000)
  assert.equal(parseDurationMs('250ms'), 250)
  assert.equal(parseDurationMs('1.5s'), 1500)
  assert.equal(parseDurationMs('0'), 0)
  assert.equal(parseDurationMs(5_000_000_000), 5000)
})

test('rejects what Go would reject', () => {
  for (const bad of ['', '10', 's', '10x', '-1s', '1s junk']) assert.equal(parseDurationMs(bad), null, bad)
  assert.equal(parseDurationMs(-1), null)
})

test('formats whole seconds as seconds', () => {
  assert.equal(formatDurationMs(10_000), '10s')
  assert.equal(formatDurationMs(250), '250ms')
})
