import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decideRestart } from './restart-policy.ts'

test('no never restarts', () => {
  assert.equal(decideRestart({ policy: 'no' }, 1, 0).restart, false)
})

test('on-failure restarts non-zero exits up to max_retries', () => {
  assert.equal(decideRestart({ policy: 'on-failure', max_retries: 2 }, 1, 0).restart, true)
  assert.equal(decideRestart({ policy: 'on-failure', max_retries: 2 }, 1, 2).restart, false)
  assert.equal(decideRestart({ policy: 'on-failure' }, 0, 0).restart, false)
})

test('the default is on-failure with 10 retries', () => {
  assert.equal(decideRestart(undefined, 3, 9).restart, true)
  assert.equal(decideRestart(undefined, 3, 10).restart, false)
})

test('always restarts, backing off up to 30s', () => {
  assert.deepEqual(decideRestart({ policy: 'always' }, 0, 0), { restart: true, delayMs: 100 })
  assert.equal(decideRestart({ policy: 'always' }, 0, 20).delayMs, 30_000)
})
