import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { attenuate } from '../../../src/sdk/index.ts'
import { daemonWithBusybox } from '../../support/machines.ts'
import { listAllTools } from '../../support/mcp.ts'
import type { TestContext } from 'node:test'

async function connect(t: TestContext, url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'scoped-test', version: '0' })
  await client.connect(new StreamableHTTPClientTransport(new URL('/mcp', url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }))
  t.after(() => client.close())
  return client
}

/** The tool's error code, or 'ok'. */
async function outcome(client: Client, name: string, args: Record<string, unknown>): Promise<{ code: string; structured: Record<string, unknown> | undefined; text: string }> {
  const r = await client.callTool({ name, arguments: args })
  const err = (r._meta as Record<string, { code: string }> | undefined)?.['hangar/error']
  const text = (r.content as { text: string }[])[0]?.text ?? ''
  return { code: r.isError ? (err?.code ?? 'error') : 'ok', structured: r.structuredContent as Record<string, unknown> | undefined, text }
}

test('/mcp with a scoped token: tools listed by its actions, every call checked against its caveats', async (t) => {
  const d = await daemonWithBusybox(t, 'web')
  await d.client.apps.create('other')
  const m1 = await d.client.machines.create('web', { skip_launch: true, config: { image: d.image } })
  const m2 = await d.client.machines.create('web', { skip_launch: true, config: { image: d.image } })
  const o1 = await d.client.machines.create('other', { skip_launch: true, config: { image: d.image } })

  const reader = await d.client.tokens.create({ apps: ['web'], actions: ['read'] })
  const client = await connect(t, d.url, reader.token)
  const names = (await listAllTools(client)).map((x) => x.name)
  for (const n of ['machine_list', 'machine_status', 'app_list', 'machine_logs']) assert.ok(names.includes(n), n)
  for (const n of ['machine_exec', 'machine_destroy', 'machine_run', 'fs_read', 'image_pull', 'app_destroy']) assert.ok(!names.includes(n), n)

  const listed = await outcome(client, 'machine_list', { app: 'web' })
  assert.equal(listed.code, 'ok', listed.text)
  assert.equal((listed.structured?.machines as unknown[]).length, 2)
  assert.equal((await outcome(client, 'machine_list', { app: 'other' })).code, 'caveat_denied')
  assert.equal((await outcome(client, 'machine_status', { app: 'other', id: o1.id })).code, 'caveat_denied')
  const apps = await outcome(client, 'app_list', {})
  assert.deepEqual((apps.structured?.apps as { name: string }[]).map((a) => a.name), ['web'])
  const destroy = await outcome(client, 'machine_destroy', { app: 'web', id: m1.id, force: true })
  assert.equal(destroy.code, 'caveat_denied')
  assert.match(destroy.text, /actions caveat/)
  assert.equal((await d.client.machines.list('web')).length, 2)

  // A machine-scoped token with every action reaches its one machine, and nothing beside it.
  const one = await d.client.tokens.create({ machines: [m1.id] })
  const c1 = await connect(t, d.url, one.token)
  assert.ok((await listAllTools(c1)).some((x) => x.name === 'machine_exec'))
  const mine = await outcome(c1, 'machine_list', { app: 'web' })
  assert.deepEqual((mine.structured?.machines as { id: string }[]).map((m) => m.id), [m1.id])
  assert.equal((await outcome(c1, 'machine_status', { app: 'web', id: m1.id })).code, 'ok')
  assert.equal((await outcome(c1, 'machine_destroy', { app: 'web', id: m2.id, force: true })).code, 'caveat_denied')
  assert.equal((await outcome(c1, 'fs_list', { app: 'web', id: m2.id, path: '/' })).code, 'caveat_denied')
  assert.equal((await outcome(c1, 'machine_run', { app: 'web', image: d.image })).code, 'caveat_denied')

  // A robot mints a sub-agent's token over MCP: it works, and it is narrower than the robot's.
  assert.ok(!names.includes('token_create'), 'a token without the tokens action cannot mint')
  const robot = await d.client.tokens.create({ apps: ['web'], actions: ['read', 'tokens'] })
  const rc = await connect(t, d.url, robot.token)
  assert.equal((await outcome(rc, 'token_create', { apps: ['other'] })).code, 'caveat_denied')
  assert.equal((await outcome(rc, 'token_create', { actions: ['exec'] })).code, 'caveat_denied')
  const minted = await outcome(rc, 'token_create', { machines: [m1.id], actions: ['read'], expires_in: '10m', description: 'sub-agent' })
  assert.equal(minted.code, 'ok', minted.text)
  const sub = minted.structured as { id: string; token: string; caveats: { type: string }[] }
  assert.deepEqual(sub.caveats.map((c) => c.type), ['apps', 'actions', 'machines', 'actions', 'validity'])
  const get = (token: string, id: string) => fetch(`${d.url}/v1/apps/web/machines/${id}`, { headers: { authorization: `Bearer ${token}` } })
  assert.equal((await get(sub.token, m1.id)).status, 200)
  assert.equal((await get(sub.token, m2.id)).status, 403)
  assert.equal((await fetch(`${d.url}/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${sub.token}` } })).status, 403)
  assert.equal((await d.client.tokens.list()).find((x) => x.id === sub.id)?.parent_id, robot.id)

  // An attenuation shares its parent's id but cannot ride its parent's session.
  const wide = await d.client.tokens.create({ apps: ['web'] })
  const init = await fetch(`${d.url}/mcp`, {
    method: 'POST',
    headers: { authorization: `Bearer ${wide.token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '0' } } }),
  })
  const sid = init.headers.get('mcp-session-id') as string
  assert.ok(sid)
  const narrow = attenuate(wide.token, { actions: ['read'] })
  const ride = await fetch(`${d.url}/mcp`, {
    method: 'POST',
    headers: { authorization: `Bearer ${narrow}`, 'mcp-session-id': sid, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
  })
  assert.equal(ride.status, 404)

  // A source caveat refuses calls from elsewhere; an expired token cannot even open a session.
  const lan = await connect(t, d.url, attenuate(reader.token, { sources: ['10.0.0.0/8'] }))
  const fromHere = await outcome(lan, 'machine_list', { app: 'web' })
  assert.equal(fromHere.code, 'caveat_denied')
  assert.match(fromHere.text, /source caveat/)
  const short = attenuate(reader.token, { expires_in: 1 })
  await new Promise((r) => setTimeout(r, 2100))
  await assert.rejects(connect(t, d.url, short), /401|expired/)

  // Revoked mid-session: the next request is refused.
  await d.client.tokens.revoke(reader.id)
  await assert.rejects(client.callTool({ name: 'machine_list', arguments: { app: 'web' } }), /401|revoked/)
})
