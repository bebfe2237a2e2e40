import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isHangarError } from '../errors.ts'
import type { MachineRow } from '../store/index.ts'
import { Capacity } from './capacity.ts'

function row(id: string, state: string, memory_mb: number, cpus = 1): MachineRow {
  return { id, state, config: { image: 'x', guest: { memory_mb, cpus } } } as unknown as MachineRow
}

function capacity(rows: MachineRow[], limits = { hostMemoryMb: 1000, memoryShare: 0.9, hostCpus: 2, cpuOvercommit: 2 }): Capacity {
  return new Capacity({ machines: { live: () => rows } } as never, limits)
}

function refusal(fn: () => void): Record<string, unknown> & { message: string; hint: string; status: number } {
  try {
    fn()
  } catch (e) {
    assert.ok(isHangarError(e) && e.code === 'capacity_exceeded', String(e))
    return Object.assign({ message: e.message, hint: e.hint, status: e.status }, e.details)
  }
  assert.fail('expected capacity_exceeded')
}

test('running, starting and suspended machines reserve; stopped, created and failed ones do not', () => {
  const c = capacity([row('a', 'started', 300), row('b', 'suspended', 200), row('c', 'starting', 100), row('d', 'stopped', 800), row('e', 'created', 800), row('f', 'failed', 800)])
  assert.deepEqual(c.reserved(), { memoryMb: 600, cpus: 3 })
  assert.equal(c.memoryMb, 900)
  assert.equal(c.cpus, 4)
})

test('a start over the memory limit is a 422 naming the limit, what is reserved and what was asked', () => {
  const c = capacity([row('a', 'started', 600)])
  c.check('b', { memoryMb: 300, cpus: 1 })
  const r = refusal(() => c.check('b', { memoryMb: 301, cpus: 1 }))
  assert.equal(r.status, 422)
  assert.match(r.message, /asks for 301 MB, running machines reserve 600 MB, and the limit for machines is 900 MB \(0\.9 × 1000 MB/)
  assert.match(r.hint, /stop or destroy machines.*smaller guest.*--max-memory-share/)
  assert.deepEqual([r.resource, r.requested_mb, r.reserved_mb, r.limit_mb], ['memory', 301, 600, 900])
})

test('CPUs are limited to host CPUs times the overcommit factor', () => {
  const c = capacity([row('a', 'started', 64, 3)])
  c.check('b', { memoryMb: 64, cpus: 1 })
  const r = refusal(() => c.check('b', { memoryMb: 64, cpus: 2 }))
  assert.match(r.message, /not enough CPUs .* asks for 2, running machines reserve 3, and the limit for machines is 4 \(2 host CPUs × 2, --cpu-overcommit\)/)
})

test('a machine is not counted against itself: an update of a running machine checks its new size beside the others', () => {
  const c = capacity([row('a', 'started', 600), row('b', 'started', 200)])
  c.check('b', { memoryMb: 300, cpus: 1 })
  refusal(() => c.check('b', { memoryMb: 301, cpus: 1 }))
})

test('holds count until released, so two creates cannot both take the last room', () => {
  const c = capacity([row('a', 'started', 500)])
  const release = c.hold('new1', { memoryMb: 300, cpus: 1 })
  refusal(() => c.hold('new2', { memoryMb: 300, cpus: 1 }))
  // The holder's own start passes: its hold is not counted against it.
  c.check('new1', { memoryMb: 300, cpus: 1 })
  release()
  c.hold('new2', { memoryMb: 300, cpus: 1 })()
})

test('a hold on a running machine counts the larger of its old and new size', () => {
  const c = capacity([row('a', 'started', 400), row('b', 'started', 100)])
  const release = c.hold('a', { memoryMb: 200, cpus: 1 })
  assert.equal(c.reserved().memoryMb, 500)
  release()
  const grow = c.hold('a', { memoryMb: 700, cpus: 1 })
  assert.equal(c.reserved().memoryMb, 800)
  grow()
})
