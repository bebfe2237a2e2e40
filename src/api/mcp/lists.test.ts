/**
 * The list methods, completion, reads and the spec's error codes, with the official
 * client on an in-memory transport against a fake backend.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CallToolResultSchema, EmptyResultSchema, ListToolsResultSchema, McpError, ReadResourceResultSchema } from '@modelcontextprotocol/sdk/types.js'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { connectInMemory, fakeBackend } from '../../../test/support/mcp-backend.ts'
import { cursorAfter, defaultPageSize } from './pagination.ts'
import { createMcpServer, tools } from './server.ts'

const code = (n: number) => (e: unknown): boolean => e instanceof McpError && e.code === n

/** Raw request, for params the client's typed methods would not send. */
const raw = (client: Client, method: string, params: unknown) => client.request({ method, params } as never, EmptyResultSchema.passthrough())

test('capabilities: tools, resources, completions and logging; no prompts, no listChanged promised', async (t) => {
  const client = await connectInMemory(t, fakeBackend())
  assert.deepEqual(client.getServerCapabilities(), { tools: {}, resources: {}, completions: {}, logging: {} })
})

test('ping answers an empty result', async (t) => {
  assert.deepEqual(await (await connectInMemory(t, fakeBackend())).ping(), {})
})

test('a request without params is fine where the spec makes them optional', async (t) => {
  const client = await connectInMemory(t, fakeBackend(), { pageSize: 4 })
  const page = await client.request({ method: 'tools/list' } as never, ListToolsResultSchema)
  assert.equal(page.tools.length, 4)
})

test('by default tools/list is one page with every tool, for clients that read only the first page', async (t) => {
  const client = await connectInMemory(t, fakeBackend())
  const page = await client.listTools()
  assert.deepEqual(page.tools.map((x) => x.name), tools.map((x) => x.name))
  assert.equal(page.nextCursor, undefined, `${tools.length} tools, default page size ${defaultPageSize}`)
})

test('a page size below 1 is refused when the server is made', () => {
  assert.throws(() => createMcpServer(fakeBackend(), { pageSize: 0 }), (e) => (e as { code?: string }).code === 'invalid_argument')
})

test('with a small page size tools/list pages through every tool with cursors, the everyday tools on page one', async (t) => {
  const pageSize = 4
  const client = await connectInMemory(t, fakeBackend(), { pageSize })
  const pages: string[][] = []
  let cursor: string | undefined
  do {
    const page = await client.listTools(cursor ? { cursor } : {})
    pages.push(page.tools.map((x) => x.name))
    cursor = page.nextCursor
  } while (cursor)
  assert.ok(pages.length >= 4, 'more tools than a few pages')
  assert.ok(pages.slice(0, -1).every((p) => p.length === pageSize))
  assert.deepEqual(pages.flat(), tools.map((x) => x.name), 'every tool once, in order')
  assert.deepEqual(pages[0], ['image_list', 'machine_run', 'machine_exec', 'machine_logs'], 'the start of the everyday loop')
})

test('a cursor that is not ours, belongs to another list or names no item is -32602', async (t) => {
  const client = await connectInMemory(t, fakeBackend({ demo: ['m1'] }), { pageSize: 4 })
  await assert.rejects(client.listTools({ cursor: 'garbage' }), code(-32602))
  await assert.rejects(client.listTools({ cursor: cursorAfter('tools', 'no_such_tool') }), code(-32602))
  const toolsCursor = (await client.listTools()).nextCursor as string
  await assert.rejects(client.listResources({ cursor: toolsCursor }), code(-32602))
  await assert.rejects(client.listResourceTemplates({ cursor: toolsCursor }), code(-32602))
  await assert.rejects(raw(client, 'tools/list', { cursor: 7 }), code(-32602))
})

test('resources/list pages in URI order, and its cursor survives an app going away', async (t) => {
  const apps: Record<string, string[]> = {}
  for (let i = 0; i < 12; i++) apps[`app${i}`] = [`m${i}`]
  apps['app1-x'] = ['mx'] // "app1-x/" sorts before "app1/": the order is the URIs', not the names'
  const client = await connectInMemory(t, fakeBackend(apps), { pageSize: 10 })
  const first = await client.listResources()
  assert.equal(first.resources.length, 10)
  delete apps.app0 // gone between pages: the next page starts after the last URI seen, all the same
  const uris = first.resources.map((r) => r.uri)
  for (let cursor = first.nextCursor; cursor; ) {
    const page = await client.listResources({ cursor })
    uris.push(...page.resources.map((r) => r.uri))
    cursor = page.nextCursor
  }
  assert.equal(uris.length, 26)
  assert.deepEqual(uris, [...uris].sort(), 'in URI order')
  assert.equal(new Set(uris).size, uris.length, 'none twice')
  assert.ok(uris.indexOf('hangar://apps/app1-x/status') < uris.indexOf('hangar://apps/app1/machines/m1/logs'))
  const logs = first.resources.find((r) => r.uri.endsWith('/logs'))
  assert.deepEqual([logs?.mimeType, logs?.title], ['text/plain', 'Machine logs'])
})

test('resources/templates/list: both templates, one page', async (t) => {
  const r = await (await connectInMemory(t, fakeBackend())).listResourceTemplates()
  assert.deepEqual(r.resourceTemplates.map((x) => x.uriTemplate), ['hangar://apps/{app}/status', 'hangar://apps/{app}/machines/{id}/logs'])
  assert.equal(r.nextCursor, undefined)
})

test('completion of {app}: prefix matches, then substring ones, at most 100 with total and hasMore', async (t) => {
  const apps: Record<string, string[]> = { demo: [], 'my-demo': [], other: [] }
  for (let i = 0; i < 150; i++) apps[`app-${String(i).padStart(3, '0')}`] = []
  const client = await connectInMemory(t, fakeBackend(apps))
  const ref = { type: 'ref/resource' as const, uri: 'hangar://apps/{app}/status' }
  const many = (await client.complete({ ref, argument: { name: 'app', value: 'app-' } })).completion
  assert.deepEqual([many.values.length, many.total, many.hasMore, many.values[0]], [100, 150, true, 'app-000'])
  const demo = (await client.complete({ ref, argument: { name: 'app', value: 'DEMO' } })).completion
  assert.deepEqual(demo, { values: ['demo', 'my-demo'], total: 2, hasMore: false })
})

test('completion of {id}: ids of the context app by id or name, of every app without one, none for an unknown app', async (t) => {
  const client = await connectInMemory(t, fakeBackend({ a: ['a1', 'a2'], b: ['b1'] }))
  const ref = { type: 'ref/resource' as const, uri: 'hangar://apps/{app}/machines/{id}/logs' }
  const values = async (value: string, context?: Record<string, string>) =>
    (await client.complete({ ref, argument: { name: 'id', value }, ...(context ? { context: { arguments: context } } : {}) })).completion.values
  assert.deepEqual(await values('', { app: 'a' }), ['a1', 'a2'])
  assert.deepEqual(await values('m-a2', { app: 'a' }), ['a2'], 'by machine name')
  assert.deepEqual(await values('1'), ['a1', 'b1'], 'substring, across apps')
  assert.deepEqual(await values('', { app: 'ghost' }), [])
})

test('completion of an unknown argument or template, or of any prompt, is -32602', async (t) => {
  const client = await connectInMemory(t, fakeBackend())
  await assert.rejects(client.complete({ ref: { type: 'ref/resource', uri: 'hangar://apps/{app}/status' }, argument: { name: 'id', value: '' } }), code(-32602))
  await assert.rejects(client.complete({ ref: { type: 'ref/resource', uri: 'hangar://nothing/{x}' }, argument: { name: 'x', value: '' } }), code(-32602))
  await assert.rejects(client.complete({ ref: { type: 'ref/prompt', name: 'review' }, argument: { name: 'x', value: '' } }), code(-32602))
  await assert.rejects(raw(client, 'completion/complete', { ref: { type: 'ref/resource', uri: 'hangar://apps/{app}/status' } }), code(-32602))
})

test('resources/read: a URI Hangar does not serve and a missing app are -32002; no uri is -32602', async (t) => {
  const client = await connectInMemory(t, fakeBackend({ demo: ['m1'] }))
  const ok = await client.readResource({ uri: 'hangar://apps/demo/status' })
  assert.equal(JSON.parse((ok.contents[0] as { text: string }).text).app, 'demo')
  await assert.rejects(client.readResource({ uri: 'hangar://nope' }), (e) => code(-32002)(e) && (e as McpError & { data?: { uri?: string } }).data?.uri === 'hangar://nope')
  await assert.rejects(client.readResource({ uri: 'hangar://apps/ghost/status' }), (e) => code(-32002)(e) && /^MCP error -32002: app_not_found: /.test((e as Error).message))
  await assert.rejects(client.request({ method: 'resources/read', params: {} } as never, ReadResourceResultSchema), code(-32602))
})

test('an unknown tool and a malformed tools/call are -32602; methods of undeclared capabilities are -32601', async (t) => {
  const client = await connectInMemory(t, fakeBackend())
  await assert.rejects(client.callTool({ name: 'no_such_tool', arguments: {} }), (e) => code(-32602)(e) && /unknown tool: no_such_tool\. Next: call one of image_list/.test((e as Error).message))
  await assert.rejects(client.request({ method: 'tools/call', params: { arguments: {} } } as never, CallToolResultSchema), code(-32602))
  await assert.rejects(raw(client, 'prompts/list', {}), code(-32601))
  await assert.rejects(raw(client, 'resources/subscribe', { uri: 'hangar://apps/demo/status' }), code(-32601))
})
