import { test } from 'node:test'
import assert from 'node:assert/strict'
import { resolveArgs, resolveEnv } from './process-spec.ts'
import type { ImageConfig } from '../images/types.ts'

const image: ImageConfig = {
  entrypoint: ['/entry'], cmd: ['serve', '--port', '80'], env: ['PATH=/bin', 'A=image'],
  workingDir: '/app', user: '', exposedPorts: [], stopSignal: null, labels: {},
}
const who = { id: 'abc', name: 'n', app: 'a', region: 'local', version: 'v1', imageRef: 'busybox:latest', privateIp: '10.0.0.2' }

test('image entrypoint and cmd by default', () => {
  assert.deepEqual(resolveArgs(undefined, image), ['/entry', 'serve', '--port', '80'])
})

test('init.cmd keeps the entrypoint; init.entrypoint drops the image cmd; exec wins', () => {
  assert.deepEqual(resolveArgs({ cmd: ['x'] }, image), ['/entry', 'x'])
  assert.deepEqual(resolveArgs({ entrypoint: ['/bin/sh'] }, image), ['/bin/sh'])
  assert.deepEqual(resolveArgs({ entrypoint: ['/bin/sh'], cmd: ['-c', 'true'] }, image), ['/bin/sh', '-c', 'true'])
  assert.deepEqual(resolveArgs({ exec: ['/bin/true'], cmd: ['ignored'] }, image), ['/bin/true'])
})

test('no command at all is a clear error', () => {
  assert.throws(() => resolveArgs(undefined, { ...image, entrypoint: [], cmd: [] }), /no Entrypoint or Cmd/)
})

test('config env overrides image env; machine variables are set', () => {
  const env = resolveEnv({ image: 'x', env: { A: 'config' } }, image, who)
  assert.ok(env.includes('A=config'))
  assert.ok(env.includes('PATH=/bin'))
  assert.ok(env.includes('FLY_MACHINE_ID=abc'))
  assert.ok(env.includes('FLY_PRIVATE_IP=10.0.0.2'))
})
