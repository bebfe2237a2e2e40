import { test } from 'node:test'
import assert from 'node:assert/strict'
import { machineConfig, rootfsBytes } from './schemas.ts'

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

test('rootfs: size_gb and fs_size_gb are whole GB, fs_size_gb within size_gb; persist is kept; bad values name the field', () => {
  const ok = machineConfig.safeParse({ image: 'x', rootfs: { size_gb: 10, fs_size_gb: 4, persist: 'always' } })
  assert.ok(ok.success)
  assert.deepEqual(ok.data.rootfs, { size_gb: 10, fs_size_gb: 4, persist: 'always' })
  assert.equal(rootfsBytes(ok.data.rootfs), 4 * 2 ** 30)
  assert.equal(rootfsBytes({ size_gb: 1 }), 2 ** 30)
  assert.equal(rootfsBytes({ size_gb: 0 }), undefined, '0 is unset, as Fly omits it')
  assert.equal(rootfsBytes(undefined), undefined)
  for (const [rootfs, where] of [
    [{ size_gb: -1 }, 'rootfs.size_gb'],
    [{ size_gb: 1.5 }, 'rootfs.size_gb'],
    [{ size_gb: '8' }, 'rootfs.size_gb'],
    [{ size_gb: 1e9 }, 'rootfs.size_gb'],
    [{ size_gb: 2, fs_size_gb: 3 }, 'rootfs.fs_size_gb'],
  ] as const) {
    const bad = machineConfig.safeParse({ image: 'x', rootfs })
    assert.ok(!bad.success, JSON.stringify(rootfs))
    assert.deepEqual(bad.error.issues.map((i) => i.path.join('.')), [where])
  }
})
