/**
 * The MCP server utilities against a real daemon over Streamable HTTP, with the
 * official client: ping, tools/list in one page, resources/list pages over 50 apps,
 * logging/setLevel filtering (per
 * session), a long machine_wait whose progress arrives as log messages and which
 * a cancellation stops, completion from the real apps and machines; and, in raw
 * HTTP, that a cancelled call's SSE stream ends with no response in it.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { LoggingMessageNotificationSchema, McpError, type LoggingMessageNotification } from '@modelcontextprotocol/sdk/types.js'
import { daemonWithBusybox } from '../../support/machines.ts'
import { defaultPageSize, tools } from '../../../src/api/mcp/index.ts'
import { connectHttp, ToolMeter } from '../../support/mcp.ts'

type Message = LoggingMessageNotification['params']
const text = (m: Message): string => (m.data as { message: string }).message

function listen(client: Client): Message[] {
  const messages: Message[] = []
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void messages.push(n.params))
  return messages
}

/** Resolves once `messages` holds one that matches. */
async function arrival(messages: Message[], match: (m: Message) => boolean, timeoutMs = 10_000): Promise<Message> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(25)) {
    const m = messages.find(match)
    if (m) return m
  }
  throw new Error(`no such log message in ${timeoutMs} ms; got ${JSON.stringify(messages)}`)
}

test('MCP server utilities over Streamable HTTP', async (t) => {
  const d = await daemonWithBusybox(t, 'mcputil')
  const client = await connectHttp(t, d)
  const messages = listen(client)
  const mcp = new ToolMeter(client)
  const run = await mcp.call<{ id: string; state: string }>('machine_run', { app: d.app, image: d.image, name: 'web' })
  assert.equal(run.structured.state, 'started', run.text)
  const id = run.structured.id
  const waitFor = (state: string, timeout_s: number) => ({ name: 'machine_wait', arguments: { app: d.app, id, state, timeout_s } })

  await t.test('ping answers {}', async () => {
    assert.deepEqual(await client.ping(), {})
  })

  await t.test('tools/list is one full page (for clients that read no further); a bad cursor is -32602', async () => {
    const first = await client.listTools()
    assert.equal(first.nextCursor, undefined, 'every tool on the first page')
    assert.deepEqual(first.tools.map((x) => x.name), tools.map((x) => x.name))
    for (const name of ['machine_run', 'machine_exec', 'machine_wait', 'image_list', 'image_pull', 'app_destroy']) assert.ok(first.tools.some((x) => x.name === name), name)
    await assert.rejects(client.listTools({ cursor: 'not-a-cursor' }), (e) => e instanceof McpError && e.code === -32602)
  })

  await t.test('resources/list pages with cursors once apps outnumber a page', async () => {
    // Apps are rows, no machines: 50 of them plus this app's status and web's logs make 52 resources.
    for (let i = 0; i < 50; i++) await d.client.apps.create(`page-${String(i).padStart(2, '0')}`)
    const first = await client.listResources()
    assert.equal(first.resources.length, defaultPageSize)
    assert.ok(first.nextCursor)
    const second = await client.listResources({ cursor: first.nextCursor })
    assert.equal(second.nextCursor, undefined)
    const uris = [...first.resources, ...second.resources].map((r) => r.uri)
    assert.equal(uris.length, 52)
    assert.equal(new Set(uris).size, 52)
    assert.ok(uris.includes(`hangar://apps/${d.app}/machines/${id}/logs`))
    await assert.rejects(client.listResources({ cursor: 'not-a-cursor' }), (e) => e instanceof McpError && e.code === -32602)
  })

  await t.test('setLevel filters: at warning only the timeout arrives; at debug the beats while waiting too', async () => {
    await client.setLoggingLevel('warning')
    messages.length = 0
    assert.equal((await client.callTool(waitFor('stopped', 3))).isError, true)
    await sleep(100)
    assert.deepEqual(messages.map((m) => [m.level, m.logger, text(m)]), [['warning', 'hangar.machines', `machine ${id} did not become stopped within 3 s`]])

    await client.setLoggingLevel('debug')
    messages.length = 0
    assert.equal((await client.callTool(waitFor('stopped', 3))).isError, true)
    await sleep(100)
    const levels = messages.map((m) => m.level)
    assert.deepEqual([levels[0], levels.at(-1)], ['info', 'warning'])
    assert.ok(messages.some((m) => m.level === 'debug' && text(m) === `machine ${id} is started, waiting for stopped`), JSON.stringify(messages))
  })

  await t.test('each /mcp session keeps its own level', async (t) => {
    const other = await connectHttp(t, d)
    const theirs = listen(other)
    await other.setLoggingLevel('error')
    messages.length = 0
    await Promise.all([client.callTool(waitFor('stopped', 3)), other.callTool(waitFor('stopped', 3))])
    await sleep(100)
    assert.deepEqual(theirs, [], 'a timeout is a warning: below error')
    assert.ok(messages.some((m) => m.level === 'debug'), 'this session is still at debug')
  })

  await t.test('a long machine_wait reports progress as log messages, and a cancellation stops it', async () => {
    messages.length = 0
    const cancel = new AbortController()
    let progress = 0
    const call = client.callTool(waitFor('destroyed', 120), undefined, { signal: cancel.signal, onprogress: () => progress++ })
    call.catch(() => {})
    const beat = await arrival(messages, (m) => m.level === 'debug' && text(m).startsWith(`machine ${id} is started`))
    assert.equal(beat.logger, 'hangar.machines')
    assert.ok(progress >= 1, 'and as progress notifications')
    cancel.abort('no longer needed')
    await assert.rejects(call)
    const [logsAtCancel, progressAtCancel] = [messages.length, progress]
    // Beats come every 2 s: a wait still running would have sent more by now.
    await sleep(4500)
    assert.equal(messages.length, logsAtCancel, JSON.stringify(messages.slice(logsAtCancel)))
    assert.equal(progress, progressAtCancel)
    const status = await mcp.call<{ state: string }>('machine_status', { app: d.app, id })
    assert.equal(status.structured.state, 'started', 'the session works on, and the machine was not touched')
  })

  await t.test('completion offers the apps and machines that exist', async () => {
    const apps = await client.complete({ ref: { type: 'ref/resource', uri: 'hangar://apps/{app}/status' }, argument: { name: 'app', value: 'mcpu' } })
    assert.deepEqual(apps.completion, { values: ['mcputil'], total: 1, hasMore: false })
    const ids = await client.complete({
      ref: { type: 'ref/resource', uri: 'hangar://apps/{app}/machines/{id}/logs' }, argument: { name: 'id', value: 'we' }, context: { arguments: { app: d.app } },
    })
    assert.deepEqual(ids.completion.values, [id], 'by the machine name, "web"')
  })

  await t.test('raw HTTP: a cancelled call gets no response, and its SSE stream ends', async () => {
    const url = new URL('/mcp', d.url)
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${d.token}` }
    const post = (body: unknown) => fetch(url, { method: 'POST', headers, body: JSON.stringify(body) })
    const init = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '0' } } })
    assert.equal(init.status, 200)
    await init.text()
    headers['mcp-session-id'] = init.headers.get('mcp-session-id') as string
    headers['mcp-protocol-version'] = '2025-11-25'
    assert.equal((await post({ jsonrpc: '2.0', method: 'notifications/initialized' })).status, 202)

    const call = await post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'machine_wait', arguments: { app: d.app, id, state: 'destroyed', timeout_s: 120 } } })
    assert.equal(call.headers.get('content-type'), 'text/event-stream')
    const body = call.text()
    await sleep(300)
    assert.equal((await post({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 2, reason: 'test' } })).status, 202)
    const sse = await Promise.race([body, sleep(5000).then(() => 'still open after 5 s')])
    assert.notEqual(sse, 'still open after 5 s')
    const sent = sse.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as { id?: number })
    assert.equal(sent.filter((m) => m.id === 2).length, 0, `no response for the cancelled call: ${sse}`)
    const ping = await post({ jsonrpc: '2.0', id: 3, method: 'ping' })
    assert.match(await ping.text(), /"id":3,"result":\{\}|"result":\{\},"jsonrpc":"2.0","id":3/)
  })
})
