import { test } from 'node:test'
import assert from 'node:assert/strict'
import { openStore } from '../store/index.ts'
import { fingerprint, idempotencyService } from './idempotency.ts'

test('a retried key returns the first result and runs the create once', async () => {
  const idem = idempotencyService(openStore({ path: ':memory:' }))
  let calls = 0
  const create = async (): Promise<{ id: number }> => ({ id: ++calls })
  assert.deepEqual(await idem.run('s', 'k1', { a: 1 }, create), { id: 1 })
  assert.deepEqual(await idem.run('s', 'k1', { a: 1 }, create), { id: 1 })
  assert.deepEqual(await idem.run('s', 'k2', { a: 1 }, create), { id: 2 })
  assert.deepEqual(await idem.run('other', 'k1', { a: 1 }, create), { id: 3 })
  assert.deepEqual(await idem.run('s', undefined, { a: 1 }, create), { id: 4 })
})

test('concurrent calls with one key share the first call', async () => {
  const idem = idempotencyService(openStore({ path: ':memory:' }))
  let calls = 0
  const create = async (): Promise<number> => {
    await new Promise((r) => setTimeout(r, 20))
    return ++calls
  }
  assert.deepEqual(await Promise.all([idem.run('s', 'k', {}, create), idem.run('s', 'k', {}, create)]), [1, 1])
})

test('a key reused for a different request is refused; failures are not stored', async () => {
  const idem = idempotencyService(openStore({ path: ':memory:' }))
  await idem.run('s', 'k', { image: 'a' }, async () => 1)
  await assert.rejects(idem.run('s', 'k', { image: 'b' }, async () => 2), { code: 'invalid_argument' })
  await assert.rejects(idem.run('s', 'f', {}, async () => { throw new Error('boom') }))
  assert.equal(await idem.run('s', 'f', {}, async () => 3), 3)
  await assert.rejects(idem.run('s', '', {}, async () => 4), { code: 'invalid_argument' })
})

test('fingerprints ignore key order', () => {
  assert.equal(fingerprint({ a: 1, b: { c: 2, d: 3 } }), fingerprint({ b: { d: 3, c: 2 }, a: 1 }))
  assert.notEqual(fingerprint({ a: 1 }), fingerprint({ a: 2 }))
})
