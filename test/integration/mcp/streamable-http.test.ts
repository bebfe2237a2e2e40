/** MCP over Streamable HTTP at /mcp on the daemon's API port: the core suite, plus auth, Origin and disconnects. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { connectHttp, ToolMeter } from '../../support/mcp.ts'
import { coreToolsSuite } from './core.suite.ts'

const initialize = JSON.stringify({
  jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } },
})
const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }

test('MCP over Streamable HTTP', async (t) => {
  const d = await coreToolsSuite(t, connectHttp)
  const mcpUrl = new URL('/mcp', d.url)

  await t.test('no token is a 401; a wrong one too; the SDK client cannot connect without one', async () => {
    assert.equal((await fetch(mcpUrl, { method: 'POST', headers, body: initialize })).status, 401)
    const wrong = await fetch(mcpUrl, { method: 'POST', headers: { ...headers, authorization: 'Bearer hgr_nope' }, body: initialize })
    assert.equal(wrong.status, 401)
    assert.match(wrong.headers.get('www-authenticate') ?? '', /^Bearer/)
    const client = new Client({ name: 'anon', version: '0' })
    await assert.rejects(client.connect(new StreamableHTTPClientTransport(mcpUrl)))
  })

  await t.test('a browser page from another origin is refused; localhost origins are fine', async () => {
    const auth = { ...headers, authorization: `Bearer ${d.token}` }
    assert.equal((await fetch(mcpUrl, { method: 'POST', headers: { ...auth, origin: 'https://evil.example' }, body: initialize })).status, 403)
    const local = await fetch(mcpUrl, { method: 'POST', headers: { ...auth, origin: 'http://localhost:6274' }, body: initialize })
    assert.equal(local.status, 200)
    assert.ok(local.headers.get('mcp-session-id'))
    await local.body?.cancel()
  })

  await t.test('a session id belongs to its session: unknown ids are a 404', async () => {
    const r = await fetch(mcpUrl, { method: 'POST', headers: { ...headers, authorization: `Bearer ${d.token}`, 'mcp-session-id': 'not-a-session' }, body: initialize })
    assert.equal(r.status, 404)
  })

  await t.test('a client that disconnects mid-call does not break other sessions', async (t) => {
    const quitter = new Client({ name: 'quitter', version: '0' })
    const transport = new StreamableHTTPClientTransport(mcpUrl, { requestInit: { headers: { authorization: `Bearer ${d.token}` } } })
    await quitter.connect(transport)
    const machines = (await quitter.callTool({ name: 'machine_list', arguments: { app: 'mcpcore' } })).structuredContent as { machines: { id: string }[] }
    const id = machines.machines[0]?.id as string
    const pending = quitter.callTool({ name: 'machine_wait', arguments: { app: 'mcpcore', id, state: 'destroyed', timeout_s: 20 } }, undefined, { onprogress: () => {} })
    pending.catch(() => {})
    await new Promise((r) => setTimeout(r, 700))
    await transport.close() // drops the open SSE response mid-call
    const other = new ToolMeter(await connectHttp(t, d))
    const list = await other.call<{ total: number }>('machine_list', { app: 'mcpcore' })
    assert.equal(list.isError, false, list.text)
    assert.equal(list.structured.total, 2)
  })
})
