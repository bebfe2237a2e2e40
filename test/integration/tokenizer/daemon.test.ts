/**
 * The daemon's tokenizer: its key file, GET /v1/tokenizer and sealing over REST, the CLI and MCP,
 * each checked by using the sealed value through the daemon's tokenizer against an HTTPS upstream
 * of the test's own on loopback.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { isHangarError } from '../../../src/errors.ts'
import { Hangar } from '../../../src/sdk/index.ts'
import { cliMain, nodeBin, startDaemon } from '../../support/daemon.ts'
import { rawExchange } from '../../support/raw-http.ts'
import { tlsUpstream } from '../../support/tls-upstream.ts'

const CREDENTIAL = 'xoxb-REAL-MAIL-CREDENTIAL-41'

function cli(env: NodeJS.ProcessEnv, stdin: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(nodeBin, [cliMain, ...args], { env })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d) => (stdout += d))
    p.stderr.on('data', (d) => (stderr += d))
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
    p.stdin.end(stdin)
  })
}

/** Sends GET through the daemon's tokenizer with a sealed secret; the upstream's Authorization as received. */
async function use(tokenizerUrl: string, authority: string, sealed: string, extra = ''): Promise<number> {
  const port = Number(new URL(tokenizerUrl).port)
  const r = await rawExchange(port, `GET http://${authority}/inbox HTTP/1.1\r\nHost: ${authority}\r\nProxy-Tokenizer: ${sealed}\r\n${extra}Connection: close\r\n\r\n`)
  return r.status
}

test('the daemon\'s tokenizer: key file outside the database, seal over REST and use it; bad secrets refused; scoped tokens need secrets', async (t) => {
  const up = await tlsUpstream(t)
  const d = await startDaemon(t, ['--tokenizer-ca', up.caPath, '--tokenizer-allow-net', '127.0.0.0/8'])
  const keyFile = join(d.dataDir, 'tokenizer-key')
  assert.equal((await stat(keyFile)).mode & 0o777, 0o600)
  const openKey = (await readFile(keyFile, 'utf8')).trim()
  assert.match(openKey, /^[0-9a-f]{64}$/)
  assert.ok(!(await readFile(join(d.dataDir, 'hangar.db'))).includes(openKey), 'the open key is not in the state database')

  const info = await d.client.tokenizer.info()
  assert.match(info.seal_key, /^[0-9a-f]{64}$/)
  assert.equal(info.host_address, d.tokenizerUrl)

  const { sealed } = await d.client.tokenizer.seal({ inject_processor: { token: CREDENTIAL }, bearer_auth: { token: 'proxy-pass' }, allowed_hosts: [up.authority] })
  assert.ok(!sealed.includes(CREDENTIAL))
  assert.equal(await use(d.tokenizerUrl, up.authority, sealed, 'Proxy-Authorization: Bearer proxy-pass\r\n'), 200)
  assert.equal(up.received[0]!.rawHeaders[up.received[0]!.rawHeaders.findIndex((h) => h.toLowerCase() === 'authorization') + 1], `Bearer ${CREDENTIAL}`)
  assert.equal(await use(d.tokenizerUrl, up.authority, sealed), 407)

  const refused = async (secret: unknown, pattern: RegExp): Promise<void> => {
    try {
      await d.client.tokenizer.seal(secret as never)
      assert.fail('sealed')
    } catch (e) {
      assert.ok(isHangarError(e) && e.status === 400, String(e))
      assert.match(e.message, pattern)
      assert.ok(!e.message.includes(CREDENTIAL))
    }
  }
  await refused({ inject_processor: { token: CREDENTIAL }, no_auth: {} }, /allowed_hosts or allowed_host_pattern/)
  await refused({ inject_processor: { token: CREDENTIAL }, fly_src_auth: { allowed_apps: ['x'] }, allowed_hosts: ['a.example'] }, /fly_src_auth/)
  await refused({ inject_processor: { token: CREDENTIAL }, oauth2_processor: { token: { access_token: 'a' } }, no_auth: {}, allowed_hosts: ['a.example'] }, /exactly one processor/)
  await refused({ inject_processor: { token: CREDENTIAL, fmt: 'Bearer %d' }, no_auth: {}, allowed_hosts: ['a.example'] }, /fmt/)
  await refused({ inject_processor: { token: CREDENTIAL, dst: 'Host' }, no_auth: {}, allowed_hosts: ['a.example'] }, /dst/)
  await refused({ inject_processor: { token: CREDENTIAL }, no_auth: {}, allowed_host_pattern: '(a)\\1' }, /linear-time/)

  const garbled = await fetch(`${d.url}/v1/tokenizer/seal`, { method: 'POST', headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' }, body: `{"inject_processor": {"token": "${CREDENTIAL}" oops` })
  assert.equal(garbled.status, 400)
  assert.ok(!(await garbled.text()).includes(CREDENTIAL), 'a malformed body is not quoted back')

  const reader = new Hangar({ baseUrl: d.url, token: (await d.client.tokens.create({ actions: ['read'] })).token })
  assert.equal((await reader.tokenizer.info()).seal_key, info.seal_key)
  await assert.rejects(reader.tokenizer.seal({ inject_processor: { token: CREDENTIAL }, no_auth: {}, allowed_hosts: ['a.example'] }), (e: unknown) => isHangarError(e) && e.code === 'caveat_denied')
  const sealer = new Hangar({ baseUrl: d.url, token: (await d.client.tokens.create({ apps: ['mail'], actions: ['secrets'] })).token })
  assert.ok((await sealer.tokenizer.seal({ inject_processor: { token: CREDENTIAL }, no_auth: {}, allowed_hosts: ['a.example'] })).sealed)
  assert.ok(!d.log().includes(CREDENTIAL), 'the daemon never logs the credential')
})

test('hangar tokenizer seal reads the credential from stdin and prints only the sealed value; tokenizer_seal over MCP returns the same kind', async (t) => {
  const up = await tlsUpstream(t)
  const d = await startDaemon(t, ['--tokenizer-ca', up.caPath, '--tokenizer-allow-net', '127.0.0.0/8'])
  const r = await cli({ ...d.env, PROXY_TOKEN: 'from-env' }, `${CREDENTIAL}\n`, 'tokenizer', 'seal', '--host', up.authority, '--dst', 'X-Api-Key', '--fmt', '%s', '--proxy-token-env', 'PROXY_TOKEN')
  assert.equal(r.code, 0, r.stderr)
  const sealed = r.stdout.trim()
  assert.match(sealed, /^[A-Za-z0-9+/]+=*$/)
  assert.equal(await use(d.tokenizerUrl, up.authority, sealed, 'Proxy-Authorization: Bearer from-env\r\n'), 200)
  const got = up.received.at(-1)!.rawHeaders
  assert.equal(got[got.findIndex((h) => h.toLowerCase() === 'x-api-key') + 1], CREDENTIAL)
  const noAuth = await cli(d.env, CREDENTIAL, 'tokenizer', 'seal', '--host', up.authority)
  assert.equal(noAuth.code, 2)
  assert.match(noAuth.stderr, /--proxy-token-env VAR .* or --no-auth/)
  const key = await cli(d.env, '', 'tokenizer', 'key', '--json')
  assert.equal(JSON.parse(key.stdout).host_address, d.tokenizerUrl)

  const client = new Client({ name: 'tkz-test', version: '0' })
  await client.connect(new StreamableHTTPClientTransport(new URL('/mcp', d.url), { requestInit: { headers: { authorization: `Bearer ${d.token}` } } }))
  t.after(() => client.close())
  const res = await client.callTool({ name: 'tokenizer_seal', arguments: { credential: CREDENTIAL, allowed_hosts: [up.authority], header: 'X-Api-Key', format: 'key=%s' } })
  assert.ok(!res.isError, JSON.stringify(res))
  const text = (res.content as { text: string }[])[0]!.text
  assert.ok(!text.includes(CREDENTIAL) && !JSON.stringify(res.structuredContent).includes(CREDENTIAL))
  const mcpSealed = (res.structuredContent as { sealed: string }).sealed
  assert.ok(text.includes(mcpSealed) && /Proxy-Tokenizer/.test(text))
  assert.equal(await use(d.tokenizerUrl, up.authority, mcpSealed), 200)
  const last = up.received.at(-1)!.rawHeaders
  assert.equal(last[last.findIndex((h) => h.toLowerCase() === 'x-api-key') + 1], `key=${CREDENTIAL}`)
  const bad = await client.callTool({ name: 'tokenizer_seal', arguments: { credential: CREDENTIAL, allowed_hosts: [] } })
  assert.ok(bad.isError && !JSON.stringify(bad).includes(CREDENTIAL))
})
