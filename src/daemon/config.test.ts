import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfig } from './config.ts'

test('capacity and disk knobs: defaults, environment, then flags; sizes in 1024s', () => {
  const d = loadConfig([], {})
  assert.deepEqual(d.capacity, { maxMemoryShare: 0.9, cpuOvercommit: 4 })
  assert.equal(d.minFreeDisk, 256 * 2 ** 20)
  const c = loadConfig(['--cpu-overcommit', '2', '--min-free-disk', '1.5G'], { HANGAR_MAX_MEMORY_SHARE: '0.5', HANGAR_CPU_OVERCOMMIT: '8', HANGAR_MIN_FREE_DISK: '64MB' })
  assert.deepEqual(c.capacity, { maxMemoryShare: 0.5, cpuOvercommit: 2 })
  assert.equal(c.minFreeDisk, 1.5 * 2 ** 30)
  assert.equal(loadConfig([], { HANGAR_MIN_FREE_DISK: '64MiB' }).minFreeDisk, 64 * 2 ** 20)
  assert.equal(loadConfig(['--min-free-disk', '0'], {}).minFreeDisk, 0)
})

test('out-of-range capacity knobs and malformed sizes are refused naming the field', () => {
  assert.throws(() => loadConfig(['--max-memory-share', '0'], {}), /maxMemoryShare/)
  assert.throws(() => loadConfig(['--cpu-overcommit=-1'], {}), /cpuOvercommit/)
  assert.throws(() => loadConfig(['--min-free-disk', 'lots'], {}), /minFreeDisk.*size like/)
})
