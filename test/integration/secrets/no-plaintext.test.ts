/**
 * A session of use of app secrets over every surface (REST through the SDK and raw, MCP over HTTP,
 * the CLI with values from arguments and stdin, scoped and hostile tokens, bad input), with a
 * machine that gets them. Then every API answer (but exec's: what the machine prints is its own
 * business), every event, the daemon's log at debug level, every CLI output, the state database
 * with its WAL, and every file under the data dir are searched for each value: none holds one in
 * the clear. The machine, read from inside, shows the values were really stored and given.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { Hangar } from '../../../src/sdk/index.ts'
import { cliMain, nodeBin } from '../../support/daemon.ts'
import { daemonWithBusybox, refusedWith } from '../../support/machines.ts'
import { listAllTools } from '../../support/mcp.ts'

// Every debug line the daemon writes is searched too.
process.env.HANGAR_TEST_LOG = 'debug'

const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'
const random = (n: number): string => [...randomBytes(n)].map((b) => alphabet[b % 36]).join('')
/** Random at both ends, so a message that quotes only a value's first or last characters is caught too (V8's quotes ten). */
const fresh = (tag: string): string => `${random(10)}-${tag}-${random(10)}`
/** What to look for: each value whole, and its first and last ten characters (36^10 each: no chance match). */
const needlesOf = (values: string[]): Buffer[] => values.flatMap((x) => [x, x.slice(0, 10), x.slice(-10)]).map((x) => Buffer.from(x))
const b64 = (s: string): string => Buffer.from(s).toString('base64')

/** The CLI with `input` on its stdin. */
function cli(env: NodeJS.ProcessEnv, input: string | null, ...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(nodeBin, [cliMain, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (b) => (out += b))
    child.stderr.on('data', (b) => (out += b))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? 1, out }))
    child.stdin.end(input ?? '')
  })
}

/** Whether any needle is anywhere in the file, read in chunks that overlap by the longest needle. */
async function fileHolds(path: string, needles: Buffer[]): Promise<Buffer | null> {
  const keep = Math.max(...needles.map((n) => n.length)) - 1
  let tail = Buffer.alloc(0)
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) {
    const window = Buffer.concat([tail, chunk as Buffer])
    for (const n of needles) if (window.includes(n)) return n
    tail = window.subarray(Math.max(0, window.length - keep))
  }
  return null
}

/**
 * Every regular file under `dir`, into mounted filesystems too (the machines' disks on the machines
 * filesystem are searched file by file through its mount). The loop image that filesystem lives in
 * is left out: 2 GB, mostly holes, read back as zeros at a few hundred MB/s.
 */
async function* filesUnder(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name)
    if (e.isDirectory()) yield* filesUnder(p)
    else if (e.isFile() && e.name !== 'machines.btrfs') yield p
  }
}

test('after a session of use, no secret value is in any answer, event, log line, CLI output, the database or the data dir', async (t) => {
  // Every answer the daemon gives this process, as it arrives (streams included): exec's aside.
  const answers: { url: string; status: number; body: Buffer[] }[] = []
  const execAnswers: string[] = []
  const realFetch = globalThis.fetch
  globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const res = await realFetch(input, init)
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
    const record = { url, status: res.status, body: [] as Buffer[] }
    if (/\/exec$/.test(new URL(url).pathname)) void res.clone().text().then((x) => execAnswers.push(x), () => {})
    else if (res.body) {
      answers.push(record)
      const reader = res.clone().body!.getReader()
      void (async () => {
        for (let r = await reader.read(); !r.done; r = await reader.read()) record.body.push(Buffer.from(r.value))
      })().catch(() => {})
    }
    return res
  }) as typeof fetch
  t.after(() => {
    globalThis.fetch = realFetch
  })

  const began = Date.now()
  const d = await daemonWithBusybox(t, 'vault')
  await d.client.apps.create('other')
  const app = d.app
  const cliOut: string[] = []
  const run = async (input: string | null, ...args: string[]): Promise<string> => {
    const r = await cli(d.env, input, ...args)
    cliOut.push(r.out)
    return r.out
  }

  const v = {
    restBatch: fresh('rest-batch'), restOne: fresh('rest-one'), restChanged: fresh('rest-changed'), mcp: fresh('mcp'),
    cliArg: fresh('cli-arg'), cliStdin: fresh('cli-stdin'), cliLines: fresh('cli-lines'), fileContent: `${fresh('file')}\n`,
    badJson: fresh('bad-json'), badNul: fresh('bad-nul'), badLong: fresh('bad-long'), badName: fresh('bad-name'), badCli: fresh('bad-cli'),
    hostile: fresh('hostile'), otherApp: fresh('other-app'), mcpLater: fresh('mcp-later'),
  }

  // REST, through the SDK and raw.
  const batch = await d.client.secrets.update(app, { API_KEY: v.restBatch, FILE_KEY: b64(v.fileContent), GONE: 'x' })
  assert.deepEqual(batch.secrets.map((s) => s.name), ['API_KEY', 'FILE_KEY', 'GONE'])
  const one = await d.client.secrets.set(app, 'TOKEN', v.restOne)
  assert.equal(one.version, batch.version + 1)
  await d.client.secrets.set(app, 'TOKEN', v.restChanged)
  await d.client.secrets.unset(app, 'GONE')
  await refusedWith(d.client.secrets.unset(app, 'GONE'), 'secret_not_found')
  assert.deepEqual((await d.client.secrets.list(app)).map((s) => s.name), ['API_KEY', 'FILE_KEY', 'TOKEN'])
  assert.equal((await d.client.secrets.get(app, 'TOKEN')).name, 'TOKEN')
  await d.client.secrets.update('other', { OTHER_KEY: v.otherApp })
  const raw = (method: string, path: string, body: string, token = d.token): Promise<Response> =>
    fetch(`${d.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body })
  const refusedRaw = async (res: Response, status: number, code: string): Promise<void> => {
    const body = (await res.json()) as { code: string }
    assert.equal(res.status, status)
    assert.equal(body.code, code)
  }
  // An unquoted value: V8's own message would quote the body around it.
  await refusedRaw(await raw('POST', `/v1/apps/${app}/secrets`, `{"values": {"A": ${v.badJson}}}`), 400, 'malformed_json')
  await refusedRaw(await raw('POST', `/v1/apps/${app}/secrets/A`, v.badJson), 400, 'malformed_json')
  await refusedRaw(await raw('POST', `/v1/apps/${app}/secrets/A`, `{"value": "${v.badJson}"`), 400, 'malformed_json')
  await refusedRaw(await raw('POST', `/v1/apps/${app}/secrets`, JSON.stringify({ values: { A: `${v.badNul}\0` } })), 400, 'invalid_argument')
  await refusedRaw(await raw('POST', `/v1/apps/${app}/secrets`, JSON.stringify({ values: { A: v.badLong.repeat(4000) } })), 400, 'invalid_argument')
  await refusedRaw(await raw('POST', `/v1/apps/${app}/secrets`, JSON.stringify({ values: { 'NOT-A-NAME': v.badName } })), 400, 'invalid_argument')
  await refusedRaw(await raw('POST', `/v1/apps/${app}/secrets/NOPE`, JSON.stringify({ values: v.badName })), 400, 'invalid_argument')
  await refusedWith(d.client.secrets.list(app, { minVersion: 999 }), 'out_of_range')
  await refusedRaw(await fetch(`${d.url}/v1/apps/${app}/secrets?show_secrets=true`, { headers: { authorization: `Bearer ${d.token}` } }), 403, 'secrets_write_only')

  // Tokens: another app's token reaches nothing here; this app's without the secrets action neither.
  const otherToken = (await d.client.tokens.create({ apps: ['other'], description: 'other robot' })).token
  const noSecrets = (await d.client.tokens.create({ apps: [app], actions: ['read', 'write', 'create', 'exec'], description: 'app robot' })).token
  for (const token of [otherToken, noSecrets]) {
    const robot = new Hangar({ baseUrl: d.url, token })
    await refusedWith(robot.secrets.list(app), 'caveat_denied')
    await refusedWith(robot.secrets.update(app, { STOLEN: v.hostile }), 'caveat_denied')
    await refusedWith(robot.secrets.set(app, 'API_KEY', v.hostile), 'caveat_denied')
    await refusedWith(robot.secrets.unset(app, 'API_KEY'), 'caveat_denied')
  }
  assert.equal((await new Hangar({ baseUrl: d.url, token: otherToken }).secrets.list('other')).length, 1, 'its own app\'s secrets it lists')

  // MCP over HTTP, with the root token, a token without the secrets action, and another app's.
  const mcp = async (token: string): Promise<Client> => {
    const c = new Client({ name: 'secrets-test', version: '0' })
    await c.connect(new StreamableHTTPClientTransport(new URL('/mcp', d.url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }))
    t.after(() => c.close())
    return c
  }
  const call = async (c: Client, name: string, args: Record<string, unknown>): Promise<{ code: string; structured: Record<string, unknown> }> => {
    const r = await c.callTool({ name, arguments: args })
    const err = (r._meta as Record<string, { code: string }> | undefined)?.['hangar/error']
    return { code: r.isError ? (err?.code ?? 'error') : 'ok', structured: (r.structuredContent ?? {}) as Record<string, unknown> }
  }
  const root = await mcp(d.token)
  assert.equal((await call(root, 'secret_set', { app, values: { MCP_KEY: v.mcp } })).code, 'ok')
  const listed = await call(root, 'secret_list', { app })
  assert.deepEqual((listed.structured.secrets as { name: string }[]).map((s) => s.name), ['API_KEY', 'FILE_KEY', 'MCP_KEY', 'TOKEN'])
  assert.equal((await call(root, 'secret_set', { app, values: { 'BAD NAME': v.badName } })).code, 'invalid_argument')
  assert.equal((await call(root, 'secret_set', { app, values: { BIG: v.badLong.repeat(4000) } })).code, 'invalid_argument')
  assert.equal((await call(root, 'secret_unset', { app, names: ['NEVER_SET'] })).code, 'ok')
  const limited = await mcp(noSecrets)
  assert.ok(!(await listAllTools(limited)).some((x) => x.name.startsWith('secret_')), 'no secrets action: no secret tools listed')
  assert.equal((await call(limited, 'secret_set', { app, values: { STOLEN: v.hostile } })).code, 'caveat_denied')
  const elsewhere = await mcp(otherToken)
  assert.equal((await call(elsewhere, 'secret_list', { app })).code, 'caveat_denied')
  assert.equal((await call(elsewhere, 'secret_set', { app, values: { STOLEN: v.hostile } })).code, 'caveat_denied')

  // The CLI: a value in an argument, one from stdin (NAME=-), NAME=VALUE lines on stdin, and bad input.
  assert.match(await run(null, 'secrets', 'set', `CLI_ARG=${v.cliArg}`, '--app', app), /set CLI_ARG in app vault/)
  assert.match(await run(`${v.cliStdin}\n`, 'secrets', 'set', 'CLI_STDIN=-', '--app', app), /set CLI_STDIN/)
  assert.match(await run(`# from a file\nCLI_LINES=${v.cliLines}\n\nCLI_LINES2=two\n`, 'secrets', 'set', '--app', app), /set CLI_LINES, CLI_LINES2/)
  assert.match(await run(null, 'secrets', 'set', `=${v.badCli}`, '--app', app), /argument 1 is not NAME=VALUE/)
  assert.match(await run(null, 'secrets', 'set', `BAD-NAME=${v.badCli}`, '--app', app), /argument 1 is not NAME=VALUE/)
  assert.match(await run(`${v.badCli}\n`, 'secrets', 'set', '--app', app), /line 1 of stdin is not NAME=VALUE/)
  assert.match(await run(null, 'secrets', 'list', '--app', app), /CLI_STDIN\s+[0-9a-f]{32}/)
  assert.match(await run(null, 'secrets', 'unset', 'CLI_LINES2', '--app', app), /unset CLI_LINES2/)
  await run(null, 'secrets', 'list', '--app', app, '--json')

  // A machine gets them all; every view of it, its events and its logs are answers like any other.
  const config = { image: d.image, init: { exec: ['sleep', '100000'] }, files: [{ guest_path: '/etc/key.pem', secret_name: 'FILE_KEY', mode: 0o400 }] }
  const m = await d.client.machines.create(app, { config })
  const env = (await d.client.machines.exec(app, m.id, { command: ['sh', '-c', 'env; cat /etc/key.pem'] })).stdout
  for (const x of [v.restBatch, v.restChanged, v.mcp, v.cliArg, v.cliStdin, v.cliLines, v.fileContent]) assert.ok(env.includes(x), 'the machine got every value that was set')
  for (const x of [v.restOne, v.hostile, v.otherApp, v.badJson, v.badCli]) assert.ok(!env.includes(x), 'and none that was replaced, refused, or another app\'s')
  const o = await d.client.machines.create('other', { config: { image: d.image, init: { exec: ['sleep', '100000'] } } })
  const otherEnv = (await d.client.machines.exec('other', o.id, { command: ['env'] })).stdout
  assert.ok(otherEnv.includes(v.otherApp) && !otherEnv.includes(v.restBatch), 'a machine sees its own app\'s secrets only')
  assert.equal(await d.client.machines.fs.readText(app, m.id, '/etc/key.pem'), '', 'the files API sees the machine\'s disk, where a secret file is only an empty mount point')
  // A robot rolls a new secret out over MCP: set, then update the machine with nothing else changed.
  const envNow = async (): Promise<string> => (await d.client.machines.exec(app, m.id, { command: ['env'] })).stdout
  assert.equal((await call(root, 'secret_set', { app, values: { LATER: v.mcpLater } })).code, 'ok')
  assert.ok(!(await envNow()).includes(v.mcpLater), 'a running machine keeps what it was given')
  assert.equal((await call(root, 'machine_update', { app, id: m.id, refresh_secrets: true })).code, 'ok')
  assert.ok((await envNow()).includes(v.mcpLater), 'machine_update with refresh_secrets gives it the new value')
  await d.client.machines.stop(app, m.id)
  await d.client.machines.start(app, m.id)
  await d.client.machines.update(app, m.id, { config })
  await d.client.machines.get(app, m.id)
  await d.client.machines.list(app)
  await d.client.machines.events(app, m.id)
  await (await fetch(`${d.url}/v1/apps/${app}/machines/${m.id}/versions`, { headers: { authorization: `Bearer ${d.token}` } })).text()
  await d.client.machines.logs(app, m.id, { tail: 100 })
  await d.client.machines.metadata(app, m.id)
  await call(root, 'machine_status', { app, id: m.id })
  await call(root, 'machine_list', { app })
  await call(root, 'machine_logs', { app, id: m.id })
  await d.client.apps.get(app)

  // Let the recorded streams catch up, close the MCP sessions, then search everything.
  await new Promise((r) => setTimeout(r, 200))
  await Promise.all([root.close(), limited.close(), elsewhere.close()])
  const needles = needlesOf([...Object.values(v).map((x) => x.trim()), b64(v.fileContent)])
  const hits: string[] = []
  const search = (what: string, text: string | Buffer): void => {
    const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text)
    for (const n of needles) if (bytes.includes(n)) hits.push(`${what} holds ${n.toString().slice(0, 24)}…`)
  }
  assert.ok(answers.length > 60, `${answers.length} answers recorded`)
  for (const a of answers) search(`answer ${a.status} ${a.url}`, Buffer.concat(a.body))
  for (const [i, out] of cliOut.entries()) search(`CLI run ${i + 1}`, out)
  const log = d.log()
  assert.match(log, /app secrets changed/, 'the daemon logged the changes (names and versions)')
  search('the daemon log', log)
  for (const id of [m.id, o.id]) search(`events of ${id}`, JSON.stringify(await d.client.machines.events(id === m.id ? app : 'other', id)))
  t.diagnostic(`session done in ${Date.now() - began} ms`)
  let files = 0
  for await (const f of filesUnder(d.dataDir)) {
    files++
    const hit = await fileHolds(f, needles)
    if (hit) hits.push(`${f} holds ${hit.toString().slice(0, 24)}…`)
  }
  assert.ok(files > 20, `${files} files under the data dir searched`)
  t.diagnostic(`${files} files searched; all done in ${Date.now() - began} ms`)
  // The search finds what is there: the names are in the database, the values are in exec's answers.
  assert.ok(await fileHolds(join(d.dataDir, 'hangar.db'), [Buffer.from('CLI_STDIN')]) ?? await fileHolds(join(d.dataDir, 'hangar.db-wal'), [Buffer.from('CLI_STDIN')]))
  assert.ok(execAnswers.some((x) => x.includes(v.cliStdin)))
  assert.deepEqual(hits, [])
})
