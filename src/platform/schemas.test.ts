import { test } from 'node:test'
import assert from 'node:assert/strict'
import { machineConfig } from './schemas.ts'

test('services[].checks: Fly-shaped checks are kept as given; bad ones are refused naming the field', () => {
  const checks = [{ type: 'http', path: '/health', interval: '10s', timeout: '1s', headers: [{ name: 'x-probe', values: ['1'] }] }, { type: 'tcp' }]
  const ok = machineConfig.safeParse({ image: 'x', services: [{ internal_port: 80, checks }] })
  assert.ok(ok.success)
  assert.deepEqual(ok.data.services?.[0]?.checks, checks)
  const bad = machineConfig.safeParse({ image: 'x', services: [{ internal_port: 80, checks: [{ type: 'grpc', path: 'health', interval: 'soon' }] }] })
  assert.ok(!bad.success)
  const where = bad.error.issues.map((i) => i.path.join('.')).sort()
  assert.deepEqual(where, ['services.0.checks.0.interval', 'services.0.checks.0.path', 'services.0.checks.0.type'])
})
