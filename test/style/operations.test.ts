/**
 * Operations are declared once (src/ops) and everything else follows from the declaration:
 * each is bound by the platform, served by a REST route derived from it, called by the SDK,
 * and an MCP tool that runs one needs the action the declaration says.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import * as ops from '../../src/ops/index.ts'
import { catalogue, paramNames } from '../../src/ops/index.ts'
import type { Platform } from '../../src/platform/index.ts'
import { operationsOf } from '../../src/platform/operations.ts'
import { restRoutes } from '../../src/api/rest/index.ts'
import { tools } from '../../src/api/mcp/server.ts'

/** A platform whose services are never called: binding and route building only capture them. */
const inert = (): Platform => {
  const fn = (): never => {
    throw new Error('not called when binding')
  }
  const deep: object = new Proxy(fn, { get: (_, k) => (k === 'then' ? undefined : deep) })
  return deep as Platform
}

test('the catalogue: unique ids; path parameters and params agree', () => {
  assert.ok(catalogue.length >= 24, `catalogue has ${catalogue.length} operations`)
  assert.equal(new Set(catalogue.map((s) => s.id)).size, catalogue.length, 'operation ids are unique')
  const routes = new Set<string>()
  for (const s of catalogue) {
    assert.deepEqual(paramNames(s.path).sort(), Object.keys(s.params.shape).sort(), `${s.id}: params are exactly the path's`)
    const key = `${s.method} ${s.path}`
    assert.ok(!routes.has(key), `${key} declared twice`)
    routes.add(key)
    if (s.states) assert.ok(s.states in ops.allowedFrom, `${s.id}: states names a row of the state table`)
    if (s.bytes === 'in') assert.notEqual(s.method, 'get', `${s.id}: a body needs a method that carries one`)
  }
})

test('every declared operation is bound by the platform and served by the route derived from it', () => {
  const platform = inert()
  const bound = operationsOf(platform)
  assert.deepEqual([...bound.keys()].sort(), catalogue.map((s) => s.id).sort(), 'bound = declared')
  const routes = restRoutes(platform)
  for (const s of catalogue) {
    const r = routes.filter((x) => x.method === s.method && x.path === s.path)
    assert.equal(r.length, 1, `${s.id}: one route ${s.method.toUpperCase()} ${s.path}`)
    assert.equal(r[0]!.spec, s, `${s.id}: the route is derived from the declaration`)
    assert.deepEqual(r[0]!.access, s.access, `${s.id}: the route checks the declared access`)
  }
})

test('MCP tools that run an operation need the action its declaration says', () => {
  const byId = new Map(catalogue.map((s) => [s.id, s]))
  const opTools = tools.filter((t) => t.op)
  assert.ok(opTools.length >= 15, `${opTools.length} tools run declared operations`)
  for (const t of opTools) {
    const s = byId.get(t.op!)
    assert.ok(s, `${t.name} runs ${t.op}, which is declared`)
    assert.equal(t.action, s.access.action, `${t.name}: action`)
  }
})

test('the SDK calls every declared operation by its declaration', () => {
  const dir = new URL('../../src/sdk/', import.meta.url)
  const sdk = readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => readFileSync(new URL(f, dir), 'utf8')).join('\n')
  const exported = Object.entries(ops).filter(([, v]) => catalogue.includes(v as never))
  assert.equal(exported.length, catalogue.length, 'every declaration is exported by name')
  for (const [name, s] of exported) {
    assert.match(sdk, new RegExp(`\\.call(Raw)?\\(${name}\\b`), `the SDK calls ${(s as ops.OpSpec).id} (${name})`)
  }
})
