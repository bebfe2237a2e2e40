import { test } from 'node:test'
import assert from 'node:assert/strict'
import { HangarError } from '../../errors.ts'
import { errorResult, toToolError } from './errors.ts'

const textOf = (r: ReturnType<typeof errorResult>): string => (r.content[0] as { text: string }).text

test('invalid_state points at the tool that gets out of it', () => {
  const stopped = new HangarError('invalid_state', "failed_precondition: unable to exec machine m1 from state 'stopped'", { details: { state: 'stopped' } })
  assert.equal(textOf(errorResult(stopped)), "invalid_state: unable to exec machine m1 from state 'stopped'. Next: call machine_start, then retry (machine_status shows why it stopped)")
  const started = new HangarError('invalid_state', 'x', { details: { state: 'started' } })
  assert.match(toToolError(started).hint, /machine_stop/)
  const busy = new HangarError('invalid_state', 'x', { details: { state: 'stopping' } })
  assert.match(toToolError(busy).hint, /machine_wait/)
})

test('results carry structured errors and isError', () => {
  const r = errorResult(new HangarError('machine_not_found', 'machine not found: m1'))
  assert.equal(r.isError, true)
  assert.equal(r.structuredContent, undefined)
  assert.deepEqual(r._meta, { 'hangar/error': { code: 'machine_not_found', message: 'machine not found: m1', hint: 'call machine_list with the app to see its machines' } })
})

test('codes without a tool hint keep the platform hint', () => {
  assert.equal(toToolError(new HangarError('lease_conflict', 'held')).hint, new HangarError('lease_conflict', 'held').hint)
})

test('unexpected errors say nothing about internals, and never a stack', () => {
  const r = errorResult(new TypeError("Cannot read properties of undefined (reading 'x') at /src/secret/path.ts:1"))
  assert.equal(textOf(r), 'internal: unexpected failure inside Hangar. Next: this is a bug in Hangar; the daemon log has the details')
  assert.doesNotMatch(JSON.stringify(r), /path\.ts|at /)
})
