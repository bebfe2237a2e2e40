/**
 * The durability soak, a few cycles (HANGAR_SOAK_CYCLES, default 5; `./hangar
 * bench checkpoints` runs a thousand): every step's files compared against
 * digests of what was written. Zero files lost, zero successes that lied.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { daemonWithBusybox } from '../../support/machines.ts'
import { soak } from '../../support/soak.ts'

const cycles = Number(process.env.HANGAR_SOAK_CYCLES ?? 5)

test(`${cycles} cycles of write → checkpoint → stop/start → restore → fork lose nothing and never report a failure as success`, async (t) => {
  const d = await daemonWithBusybox(t, 'soak')
  const m = await d.client.machines.create(d.app, { config: { image: 'busybox:latest', init: { exec: ['sleep', '100000'] } } })
  await d.client.machines.wait(d.app, m.id, { state: ['started'] })
  const report = await soak(d.client, d.app, m.id, cycles)
  t.diagnostic(JSON.stringify(report))
  assert.deepEqual(report.failures, [])
  assert.equal(report.cycles, cycles)
  assert.equal(report.lostFiles, 0)
  assert.equal(report.falseSuccesses, 0)
  assert.ok(report.checks >= cycles * 4, `${report.checks} comparisons`)
})
