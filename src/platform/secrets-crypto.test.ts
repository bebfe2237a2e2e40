import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { isHangarError } from '../errors.ts'
import { SecretBox } from './secrets-crypto.ts'

const slot = { app: 'web', name: 'DB_PASSWORD', version: 3 }
const value = 'correct horse battery staple ✓'

const unreadable = (fn: () => unknown): void => {
  assert.throws(fn, (e) => isHangarError(e) && e.code === 'secrets_unreadable' && !e.message.includes(value))
}

test('a sealed value opens to itself, and its bytes hold no trace of it', () => {
  const box = new SecretBox(randomBytes(32))
  const sealed = box.seal(slot, value)
  assert.equal(box.open(slot, sealed), value)
  assert.equal(sealed.includes(Buffer.from(value)), false)
  assert.equal(sealed.includes(Buffer.from('horse')), false)
})

test('sealing twice gives different bytes (a fresh iv), both open', () => {
  const box = new SecretBox(randomBytes(32))
  const [a, b] = [box.seal(slot, value), box.seal(slot, value)]
  assert.notDeepEqual(a, b)
  assert.equal(box.open(slot, b), value)
})

test('a value opens only in its own slot: another app, name or version is refused', () => {
  const box = new SecretBox(randomBytes(32))
  const sealed = box.seal(slot, value)
  unreadable(() => box.open({ ...slot, app: 'other' }, sealed))
  unreadable(() => box.open({ ...slot, name: 'DB_PASSWORD2' }, sealed))
  unreadable(() => box.open({ ...slot, version: 4 }, sealed))
})

test('another key, a flipped bit, a cut or an unknown format byte is secrets_unreadable, naming no content', () => {
  const box = new SecretBox(randomBytes(32))
  const sealed = box.seal(slot, value)
  unreadable(() => new SecretBox(randomBytes(32)).open(slot, sealed))
  for (const i of [0, 1, 14, 30, sealed.length - 1]) {
    const bad = Buffer.from(sealed)
    bad[i] = (bad[i] as number) ^ 1
    unreadable(() => box.open(slot, bad))
  }
  unreadable(() => box.open(slot, sealed.subarray(0, 20)))
})

test('the digest is Fly-shaped, equal for equal values of one app, keyed, and differs across apps', () => {
  const key = randomBytes(32)
  const box = new SecretBox(key)
  const d = box.digest('web', value)
  assert.match(d, /^[0-9a-f]{32}$/)
  assert.equal(new SecretBox(key).digest('web', value), d)
  assert.notEqual(box.digest('web', value + ' '), d)
  assert.notEqual(box.digest('api', value), d)
  assert.notEqual(new SecretBox(randomBytes(32)).digest('web', value), d)
})

test('a key that is not 32 bytes is refused', () => {
  assert.throws(() => new SecretBox(randomBytes(16)))
})
