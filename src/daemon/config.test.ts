import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfig } from './config.ts'

test('capacity knobs: defaults, environment, then flags', () => {
  assert.deepEqual(loadConfig([], {}).capacity, { maxMemoryShare: 0.9, cpuOvercommit: 4 })
  const c = loadConfig(['--cpu-overcommit', '2'], { HANGAR_MAX_MEMORY_SHARE: '0.5', HANGAR_CPU_OVERCOMMIT: '8' })
  assert.deepEqual(c.capacity, { maxMemoryShare: 0.5, cpuOvercommit: 2 })
})

test('out-of-range capacity knobs are refused naming the field', () => {
  assert.throws(() => loadConfig(['--max-memory-share', '0'], {}), /maxMemoryShare/)
  assert.throws(() => loadConfig(['--cpu-overcommit=-1'], {}), /cpuOvercommit/)
})
