/** The tool table over a linked in-memory transport, against a fake backend: schemas, errors, budgets. */
import { Readable } from 'node:stream'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { HangarError } from '../../errors.ts'
import type { MachineView } from '../../platform/index.ts'
import type { Backend } from './backend.ts'
import { createMcpServer } from './server.ts'
import { listAllTools } from '../../../test/support/mcp.ts'

function machine(state: string): MachineView {
  return {
    id: 'abc123', name: 'web', state, region: 'local', instance_id: 'v1', version: 'v1', private_ip: '10.0.0.2', private_ipv6: null,
    config: { image: 'busybox:latest' }, image_ref: {}, created_at: 'now', updated_at: 'now', events: [], host_status: 'ok', restart_count: 0,
  }
}

function fakeBackend(state = 'started'): Backend {
  const no = (): never => {
    throw new Error('not used')
  }
  return {
    tokens: { create: no },
    tokenizer: { seal: no, info: no },
    secrets: { list: no, update: no },
    machines: {
      logs: async () => [1, 2, 3].map((n) => ({ timestamp: `2024-01-01T00:00:0${n}Z`, stream: 'stdout' as const, message: `line ${n}` })),
    },
    run: async (spec) => {
      switch (spec.id) {
        case 'app.list':
          return { total_apps: 0, apps: [] } as never
        case 'machine.list':
          return [machine(state)] as never
        case 'machine.get':
          return machine(state) as never
        case 'machine.events':
          return [] as never
        case 'machine.exec':
          if (state !== 'started') throw new HangarError('invalid_state', `failed_precondition: unable to exec machine abc123 from state '${state}'`, { details: { state } })
          return { exit_code: 0, exit_signal: null, stdout: 'x'.repeat(10_000), stderr: '', stdout_truncated: false, stderr_truncated: false, timed_out: false } as never
        case 'fs.read': {
          // A 100 000-byte text file whose last character is a 2-byte "é".
          const whole = Buffer.concat([Buffer.alloc(99_998, 'a'), Buffer.from('é')])
          return { stream: Readable.from([whole]), type: 'application/octet-stream', headers: { 'x-file-size': String(whole.length) } } as never
        }
        default:
          return no()
      }
    },
    images: {
      list: async () => [], get: no, importFile: no, pull: no,
      buildBase: async (_opts, onProgress) => {
        onProgress({ phase: 'downloading', percent: 50, message: 'Get: 12 libc6' })
        onProgress({ phase: 'installing', message: 'Setting up tini' })
        const config = { entrypoint: [], cmd: ['bash'], env: [], workingDir: '/', user: '', exposedPorts: [], stopSignal: null, labels: {} }
        return { ref: 'debian:bookworm', repository: 'debian', tag: 'bookworm', digest: 'sha256:00', size: 3e7, created: 'now', config, layers: [] }
      },
    },
  }
}

async function connect(backend: Backend): Promise<Client> {
  const [a, b] = InMemoryTransport.createLinkedPair()
  await createMcpServer(backend).connect(a)
  const client = new Client({ name: 'test', version: '0' })
  await client.connect(b)
  return client
}

test('every tool has a description, input and output schemas and annotations', async () => {
  const tools = await listAllTools(await connect(fakeBackend()))
  assert.ok(tools.length >= 15)
  for (const t of tools) {
    assert.ok(t.description && t.description.length > 40, t.name)
    assert.equal(t.inputSchema.type, 'object', t.name)
    assert.equal(t.outputSchema?.type, 'object', t.name)
    assert.equal(typeof t.annotations?.readOnlyHint, 'boolean', t.name)
    assert.equal(t.annotations?.openWorldHint, t.name === 'image_build_base' || t.name === 'image_pull', t.name)
  }
})

test('exec output over the budget is cut in the middle with a marker saying how to get more', async () => {
  const r = await (await connect(fakeBackend())).callTool({ name: 'machine_exec', arguments: { app: 'a', id: 'abc123', command: ['cat', 'big'] } })
  const out = r.structuredContent as { stdout: string; stdout_truncated: boolean; stdout_omitted_bytes: number }
  assert.equal(out.stdout_truncated, true)
  assert.ok(out.stdout.length < 4096 + 200)
  assert.equal(out.stdout_omitted_bytes, 10_000 - 4096)
  assert.match(out.stdout, /\[truncated: 5904 more bytes; call machine_exec with max_output_bytes=/)
})

test('exec on a stopped machine is an error result naming machine_start', async () => {
  const r = await (await connect(fakeBackend('stopped'))).callTool({ name: 'machine_exec', arguments: { app: 'a', id: 'abc123', command: 'ls' } })
  assert.equal(r.isError, true)
  const text = (r.content as { text: string }[])[0]?.text ?? ''
  assert.match(text, /^invalid_state: unable to exec machine abc123 from state 'stopped'\. Next: call machine_start/)
  assert.equal((r._meta?.['hangar/error'] as { code: string }).code, 'invalid_state')
})

test('invalid arguments are an error result naming the field', async () => {
  const r = await (await connect(fakeBackend())).callTool({ name: 'machine_exec', arguments: { app: 'a', id: 'abc123', timeout_s: 'soon' } })
  assert.equal(r.isError, true)
  const text = (r.content as { text: string }[])[0]?.text ?? ''
  assert.match(text, /^invalid_argument: invalid arguments for machine_exec: .*command.*timeout_s/)
})

test('logs come with a cursor; since returns only newer lines', async () => {
  const client = await connect(fakeBackend())
  const first = (await client.callTool({ name: 'machine_logs', arguments: { app: 'a', id: 'abc123', tail: 2 } })).structuredContent as { lines: unknown[]; cursor: string }
  assert.equal(first.lines.length, 2)
  assert.equal(first.cursor, '2024-01-01T00:00:03Z#1', 'the last line: its timestamp and its ordinal among lines stamped alike')
  const next = (await client.callTool({ name: 'machine_logs', arguments: { app: 'a', id: 'abc123', since: '2024-01-01T00:00:02Z' } })).structuredContent as { lines: { message: string }[] }
  assert.deepEqual(next.lines.map((l) => l.message), ['line 3'])
})

test('resources: app status and machine logs templates are listed', async () => {
  const { resourceTemplates } = await (await connect(fakeBackend())).listResourceTemplates()
  assert.deepEqual(resourceTemplates.map((t) => t.uriTemplate).sort(), ['hangar://apps/{app}/machines/{id}/logs', 'hangar://apps/{app}/status'])
})

test('image_build_base forwards build progress as notifications that only move forward', async () => {
  const seen: { progress: number; total?: number; message?: string }[] = []
  const r = await (await connect(fakeBackend())).callTool({ name: 'image_build_base', arguments: {} }, undefined, { onprogress: (p) => seen.push(p) })
  assert.equal((r.structuredContent as { image: { ref: string } }).image.ref, 'debian:bookworm')
  assert.deepEqual(seen.map((p) => p.progress), [150, 300])
  assert.equal(seen[0]?.total, 600)
  assert.match(seen[0]?.message ?? '', /^downloading 50%: Get: 12 libc6/)
})

test('fs_read is capped at max_bytes and says so; a cut character is dropped, not garbled; base64 on request', async () => {
  const client = await connect(fakeBackend())
  const cut = (await client.callTool({ name: 'fs_read', arguments: { app: 'a', id: 'abc123', path: '/f', max_bytes: 99_999 } })).structuredContent as { content: string; truncated: boolean; size: number; binary: boolean }
  assert.deepEqual([cut.content.length, cut.truncated, cut.size, cut.binary], [99_998, true, 100_000, false])
  const whole = (await client.callTool({ name: 'fs_read', arguments: { app: 'a', id: 'abc123', path: '/f', max_bytes: 1 << 20 } })).structuredContent as { content: string; truncated: boolean }
  assert.deepEqual([whole.content.endsWith('aé'), whole.truncated], [true, false])
  const small = await client.callTool({ name: 'fs_read', arguments: { app: 'a', id: 'abc123', path: '/f' } })
  const s = small.structuredContent as { content: string; truncated: boolean }
  assert.deepEqual([s.content.length, s.truncated], [16_384, true])
  assert.match((small.content as { text: string }[])[0]?.text ?? '', /\[truncated: showed 16384 of 100000 bytes; call fs_read with a larger max_bytes/)
  const b64 = (await client.callTool({ name: 'fs_read', arguments: { app: 'a', id: 'abc123', path: '/f', encoding: 'base64', max_bytes: 3 } })).structuredContent as { content: string }
  assert.equal(b64.content, Buffer.from('aaa').toString('base64'))
})
