/**
 * What every MCP transport must do against a real daemon and the official SDK
 * client: list tools, run, exec, follow logs with a cursor, stop, fail usefully,
 * dedupe retries, report progress. streamable-http.test.ts and stdio.test.ts run it.
 */
import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import { daemonWithBusybox, httpGet } from '../../support/machines.ts'
import { listAllTools, ToolMeter, type Connect } from '../../support/mcp.ts'
import type { TestDaemon } from '../../support/daemon.ts'

const expectedTools = [
  'app_list', 'app_create', 'app_destroy', 'machine_run', 'machine_list', 'machine_status', 'machine_update', 'machine_destroy',
  'machine_start', 'machine_stop', 'machine_restart', 'machine_wait', 'machine_exec', 'machine_logs', 'image_list', 'image_import',
  'fs_read', 'fs_write', 'fs_list', 'fs_delete', 'fs_rename',
]

type Placed = { id: string; state: string; url: string | null; private_ip: string }

export async function coreToolsSuite(t: TestContext, connect: Connect): Promise<TestDaemon> {
  const d = await daemonWithBusybox(t)
  const client = await connect(t, d)
  const mcp = new ToolMeter(client)
  const app = 'mcpcore'

  await t.test('tools/list: every tool has a description, input and output schemas, annotations', async () => {
    const tools = await listAllTools(client)
    for (const name of expectedTools) assert.ok(tools.some((x) => x.name === name), `missing ${name}`)
    for (const x of tools) {
      assert.ok((x.description ?? '').length > 40, x.name)
      assert.equal(x.inputSchema.type, 'object', x.name)
      assert.equal(x.outputSchema?.type, 'object', x.name)
      assert.equal(typeof x.annotations?.destructiveHint, 'boolean', x.name)
    }
  })

  let web!: Placed
  await t.test('machine_run starts a machine (creating the app) and a retry with the same key returns it again', async () => {
    const args = { app, image: d.image, name: 'web', idempotency_key: 'core-web-1' }
    const first = await mcp.call<Placed>('machine_run', args)
    assert.equal(first.isError, false, first.text)
    web = first.structured
    assert.equal(web.state, 'started')
    assert.equal(web.url, `http://${web.private_ip}:8080`)
    assert.equal((await httpGet(web.url as string)).body, 'hello from hangar\n')
    const again = await mcp.call<Placed>('machine_run', args)
    assert.equal(again.structured.id, web.id)
    const list = await mcp.call<{ machines: unknown[] }>('machine_list', { app })
    assert.equal(list.structured.machines.length, 1)
  })

  await t.test('machine_exec runs argv and shell strings, bounded', async () => {
    const cat = await mcp.call<{ exit_code: number; stdout: string }>('machine_exec', { app, id: web.id, command: ['cat', '/www/index.html'] })
    assert.deepEqual([cat.structured.exit_code, cat.structured.stdout], [0, 'hello from hangar\n'])
    const sh = await mcp.call<{ exit_code: number; stdout: string; stderr: string }>('machine_exec', { app, id: web.id, command: 'echo out; echo err >&2; exit 3' })
    assert.deepEqual([sh.structured.exit_code, sh.structured.stdout, sh.structured.stderr], [3, 'out\n', 'err\n'])
    const big = await mcp.call<{ stdout: string; stdout_omitted_bytes: number }>('machine_exec', { app, id: web.id, command: 'yes hangar | head -c 20000' })
    assert.equal(big.structured.stdout_omitted_bytes, 20000 - 4096)
    assert.match(big.text, /\[truncated: 15904 more bytes; call machine_exec with max_output_bytes=/)
    assert.ok(big.bytes < 12_000, `exec result is ${big.bytes} bytes`)
  })

  await t.test('cancelling machine_exec kills the command in the machine, its children too', async () => {
    const ps = async (): Promise<string> => (await mcp.call<{ stdout: string }>('machine_exec', { app, id: web.id, command: ['ps'] })).structured.stdout
    /** Polls ps until `check` holds; a shell and its sleep both show "sleep 37" in their arguments. */
    const until = async (check: (ps: string) => boolean, what: string): Promise<void> => {
      let last = ''
      for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) if (check((last = await ps()))) return
      assert.fail(`${what} within 10 s; ps:\n${last}`)
    }
    const cancel = new AbortController()
    const call = client.callTool({ name: 'machine_exec', arguments: { app, id: web.id, command: 'sleep 37; touch /tmp/exec-not-cancelled', timeout_s: 120 } }, undefined, {
      signal: cancel.signal,
    })
    call.catch(() => {})
    await until((out) => /sh -c sleep 37/.test(out) && / sleep 37$/m.test(out), 'the shell and its sleep running')
    cancel.abort('no longer needed')
    await assert.rejects(call, /no longer needed/)
    await until((out) => !/sleep 37/.test(out), 'neither the shell nor its sleep left')
    const marker = await mcp.call<{ exit_code: number }>('machine_exec', { app, id: web.id, command: ['test', '-e', '/tmp/exec-not-cancelled'] })
    assert.equal(marker.structured.exit_code, 1, 'the shell died before its next command')
  })

  let ticker!: Placed
  await t.test('machine_logs returns a cursor; the next call returns only newer lines', async () => {
    const loop = 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done'
    ticker = (await mcp.call<Placed>('machine_run', { app, image: d.image, name: 'ticker', cmd: ['sh', '-c', loop] })).structured
    await new Promise((r) => setTimeout(r, 600))
    type Logs = { lines: { message: string }[]; cursor: string; more: boolean }
    const first = await mcp.call<Logs>('machine_logs', { app, id: ticker.id, tail: 3 })
    assert.equal(first.structured.lines.length, 3)
    await new Promise((r) => setTimeout(r, 500))
    const next = await mcp.call<Logs>('machine_logs', { app, id: ticker.id, since: first.structured.cursor })
    const n = (m?: { message: string }): number => Number(m?.message.split(' ')[1])
    assert.ok(next.structured.lines.length >= 2, next.text)
    assert.equal(n(next.structured.lines[0]), n(first.structured.lines.at(-1)) + 1, 'no gap, no overlap')
    assert.ok(next.structured.cursor > first.structured.cursor)
  })

  await t.test('machine_wait reports progress while waiting, and returns once the state is reached', async () => {
    const progress: string[] = []
    const waiting = mcp.call<{ state: string }>('machine_wait', { app, id: ticker.id, state: 'stopped', timeout_s: 30 }, { onprogress: (p) => progress.push(p.message ?? '') })
    await new Promise((r) => setTimeout(r, 2500))
    await mcp.call('machine_stop', { app, id: ticker.id, timeout_s: 1 })
    const done = await waiting
    assert.equal(done.structured.state, 'stopped', done.text)
    assert.ok(progress.length >= 1, 'at least one progress notification')
    assert.match(progress[0] ?? '', /is started, waiting for stopped/)
  })

  await t.test('exec on a stopped machine is an error result that names machine_start', async () => {
    const r = await mcp.call('machine_exec', { app, id: ticker.id, command: ['true'] })
    assert.equal(r.isError, true)
    assert.match(r.text, /^invalid_state: .*'stopped'.*Next: call machine_start/)
    assert.equal(r.error?.code, 'invalid_state')
  })

  await t.test('fs_* tools work on a stopped machine: write, read (bounded), list, rename, delete; ENOENT is an error result', async () => {
    const w = await mcp.call<{ size: number; mode: string }>('fs_write', { app, id: ticker.id, path: '/srv/run.sh', content: '#!/bin/sh\necho hi\n'.repeat(100), mode: '0755' })
    assert.deepEqual([w.isError, w.structured.size, w.structured.mode], [false, 1800, '0755'], w.text)
    const r = await mcp.call<{ content: string; truncated: boolean; size: number }>('fs_read', { app, id: ticker.id, path: '/srv/run.sh', max_bytes: 20 })
    assert.deepEqual([r.structured.content, r.structured.truncated, r.structured.size], ['#!/bin/sh\necho hi\n#!', true, 1800])
    await mcp.call('fs_rename', { app, id: ticker.id, source: '/srv/run.sh', dest: '/srv/start.sh' })
    const l = await mcp.call<{ entries: { name: string; mode: string }[] }>('fs_list', { app, id: ticker.id, path: '/srv' })
    assert.deepEqual(l.structured.entries.map((e) => [e.name, e.mode]), [['start.sh', '0755']])
    const del = await mcp.call<{ count: number }>('fs_delete', { app, id: ticker.id, path: '/srv', recursive: true })
    assert.equal(del.structured.count, 2)
    const missing = await mcp.call('fs_read', { app, id: ticker.id, path: '/srv/start.sh' })
    assert.equal(missing.isError, true)
    assert.equal(missing.error?.code, 'file_not_found')
  })

  await t.test('invalid arguments are an error result naming the field', async () => {
    const r = await mcp.call('machine_exec', { app, id: web.id, command: ['true'], timeout_s: 'soon' })
    assert.equal(r.isError, true)
    assert.match(r.text, /^invalid_argument: .*timeout_s/)
    const missing = await mcp.call('machine_status', { app, id: 'nope' })
    assert.match(missing.text, /^machine_not_found: .*Next: call machine_list/)
  })

  await t.test('status resource and machine_status show state and recent events', async () => {
    const status = await mcp.call<{ state: string; events: string[] }>('machine_status', { app, id: ticker.id })
    assert.equal(status.structured.state, 'stopped')
    assert.ok(status.structured.events.some((e) => / exit → stopped /.test(e)), status.text)
    const res = await client.readResource({ uri: `hangar://apps/${app}/status` })
    const body = JSON.parse((res.contents[0] as { text: string }).text) as { machines: { id: string; state: string }[] }
    assert.deepEqual(body.machines.map((m) => m.state).sort(), ['started', 'stopped'])
  })

  await t.test('machine_stop on the web machine', async () => {
    const r = await mcp.call<{ state: string }>('machine_stop', { app, id: web.id, timeout_s: 2 })
    assert.equal(r.structured.state, 'stopped', r.text)
  })
  t.diagnostic(`${mcp.calls} tool calls; largest output ${mcp.largestBytes} bytes (${mcp.largestTool})`)
  return d
}
