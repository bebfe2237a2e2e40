import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { KeyedQueue } from './keyed-queue.ts'

test('runs tasks on one key in order, never overlapping', async () => {
  const q = new KeyedQueue()
  const log: string[] = []
  const task = (name: string, ms: number) => async () => {
    log.push(`${name}:in`)
    await sleep(ms)
    log.push(`${name}:out`)
  }
  await Promise.all([q.run('m', task('a', 20)), q.run('m', task('b', 1)), q.run('m', task('c', 1))])
  assert.deepEqual(log, ['a:in', 'a:out', 'b:in', 'b:out', 'c:in', 'c:out'])
  assert.equal(q.busy('m'), false)
})

test('a failing task does not block the next one', async () => {
  const q = new KeyedQueue()
  await assert.rejects(q.run('m', async () => { throw new Error('boom') }), /boom/)
  assert.equal(await q.run('m', async () => 42), 42)
})

test('different keys run concurrently', async () => {
  const q = new KeyedQueue()
  let concurrent = 0
  let max = 0
  const task = async () => { concurrent++; max = Math.max(max, concurrent); await sleep(10); concurrent-- }
  await Promise.all([q.run('a', task), q.run('b', task)])
  assert.equal(max, 2)
})
