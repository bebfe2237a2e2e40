import { test } from 'node:test'
import assert from 'node:assert/strict'
import { assertCan, canDo } from './machine-state.ts'
import { isHangarError } from '../errors.ts'

test('start is allowed from rest states and is a no-op when started', () => {
  for (const s of ['created', 'stopped', 'suspended', 'failed', 'started']) assert.ok(canDo('start', s), s)
  for (const s of ['destroyed', 'destroying', 'replacing', 'stopping']) assert.ok(!canDo('start', s), s)
})

test('destroy without force needs a machine at rest', () => {
  assert.ok(!canDo('destroy', 'started'))
  assert.ok(canDo('force_destroy', 'started'))
  assert.ok(!canDo('force_destroy', 'destroyed'))
})

test('an illegal transition is a 409 naming the state and the way out', () => {
  try {
    assertCan('destroy', 'started', 'abc')
    assert.fail('should throw')
  } catch (e) {
    assert.ok(isHangarError(e))
    assert.equal(e.status, 409)
    assert.equal(e.code, 'invalid_state')
    assert.match(e.message, /from state 'started'/)
    assert.match(e.hint, /force=true/)
  }
})

test('transient states tell the caller to wait', () => {
  try {
    assertCan('start', 'stopping', 'abc')
    assert.fail('should throw')
  } catch (e) {
    assert.ok(isHangarError(e))
    assert.match(e.hint, /wait/)
  }
})

test('exec and signal need a started machine', () => {
  assert.ok(canDo('exec', 'started'))
  assert.ok(!canDo('exec', 'stopped'))
  assert.ok(!canDo('signal', 'created'))
})

test('files work on a machine running or at rest, not while it is replaced or destroyed', () => {
  for (const s of ['created', 'started', 'stopped', 'suspended', 'failed', 'starting', 'stopping']) assert.ok(canDo('files', s), s)
  for (const s of ['replacing', 'destroying', 'destroyed']) assert.ok(!canDo('files', s), s)
})
