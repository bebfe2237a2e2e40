import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startDaemon } from '../../support/daemon.ts'

test('the OpenAPI document is served without a token and documents every Fly route', async (t) => {
  const d = await startDaemon(t)
  const res = await fetch(`${d.url}/v1/openapi.json`)
  assert.equal(res.status, 200)
  const doc = await res.json()
  assert.equal(doc.openapi, '3.1.0')
  const M = '/v1/apps/{app}/machines/{id}'
  const expected: [string, string][] = [
    ['/v1/apps', 'get'], ['/v1/apps', 'post'], ['/v1/apps/{app}', 'delete'],
    ['/v1/apps/{app}/machines', 'post'], [M, 'get'], [M, 'post'], [M, 'delete'],
    [`${M}/start`, 'post'], [`${M}/stop`, 'post'], [`${M}/restart`, 'post'], [`${M}/signal`, 'post'], [`${M}/suspend`, 'post'],
    [`${M}/wait`, 'get'], [`${M}/exec`, 'post'], [`${M}/lease`, 'post'], [`${M}/metadata`, 'patch'], [`${M}/events`, 'get'], [`${M}/logs`, 'get'],
  ]
  for (const [path, method] of expected) assert.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} documented`)
  const create = doc.paths['/v1/apps/{app}/machines'].post.requestBody.content['application/json'].schema
  assert.deepEqual(create.required, ['config'])
  assert.equal(create.properties.config.properties.guest.properties.memory_mb.minimum, 64)
  const ids = Object.values(doc.paths).flatMap((p) => Object.values(p as Record<string, { operationId: string }>).map((o) => o.operationId))
  assert.equal(new Set(ids).size, ids.length, 'operationIds are unique')
})

test('every route answers a request without a token with 401', async (t) => {
  const d = await startDaemon(t)
  const res = await fetch(`${d.url}/v1/apps/x/machines/y/start`, { method: 'POST' })
  assert.equal(res.status, 401)
  const body = await res.json()
  assert.equal(body.code, 'unauthenticated')
})
