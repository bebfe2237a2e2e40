/**
 * The logging utility with the official client on an in-memory transport:
 * setLevel, filtering by level, one level per session, the per-call cap, and
 * the progress of long calls arriving as notifications/message.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { EmptyResultSchema, LoggingMessageNotificationSchema, McpError, type LoggingMessageNotification } from '@modelcontextprotocol/sdk/types.js'
import { HangarError } from '../../errors.ts'
import type { BuildProgress } from '../../platform/index.ts'
import type { ImageRecord } from '../../images/types.ts'
import { connectInMemory, fakeBackend } from '../../../test/support/mcp-backend.ts'
import type { Backend } from './backend.ts'
import { maxMessagesPerCall } from './logging.ts'

type Message = LoggingMessageNotification['params']

const image: ImageRecord = {
  ref: 'debian:bookworm', repository: 'debian', tag: 'bookworm', digest: 'sha256:00', size: 3e7, created: 'now', layers: [],
  config: { entrypoint: [], cmd: ['bash'], env: [], workingDir: '/', user: '', exposedPorts: [], stopSignal: null, labels: {} },
}

/** A machine that never reaches the state waited for, and a base build that reports phases and percentages. */
function backend(build: BuildProgress[] = []): Backend {
  const b = fakeBackend({ demo: ['m1'] })
  b.ops['machine.wait'] = async () => {
    throw new HangarError('wait_timeout', 'deadline_exceeded: machine failed to reach desired state, stopped, currently started', { details: { state: 'started' } })
  }
  b.images.buildBase = async (_o, onProgress) => {
    for (const p of build) onProgress(p)
    return image
  }
  return b
}

const build: BuildProgress[] = [
  { phase: 'resolving', message: 'running apt-get update' },
  ...[5, 12, 18, 25, 31, 47, 99].map((percent) => ({ phase: 'downloading' as const, percent, message: `Get: ${percent}` })),
  { phase: 'installing', message: 'installing essential packages' },
]

/** Records every log message; `settle` lets notifications sent just before a result arrive. */
function listen(client: Client): { messages: Message[]; settle(): Promise<void> } {
  const messages: Message[] = []
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void messages.push(n.params))
  return { messages, settle: () => new Promise((r) => setTimeout(r, 20)) }
}

async function session(t: TestContext, b: Backend) {
  const client = await connectInMemory(t, b)
  return { client, ...listen(client) }
}

test('logging/setLevel answers {}; a level outside RFC 5424 is -32602', async (t) => {
  const { client } = await session(t, backend())
  assert.deepEqual(await client.setLoggingLevel('warning'), {})
  for (const level of ['loud', 'WARNING', 'warn', 7]) {
    await assert.rejects(client.request({ method: 'logging/setLevel', params: { level } } as never, EmptyResultSchema), (e) => e instanceof McpError && e.code === -32602, String(level))
  }
  await assert.rejects(client.request({ method: 'logging/setLevel', params: {} } as never, EmptyResultSchema), (e) => e instanceof McpError && e.code === -32602)
})

test('messages below the level set are not sent: warning lets the timeout through, debug the whole story', async (t) => {
  const { client, messages, settle } = await session(t, backend(build))
  const wait = { name: 'machine_wait', arguments: { app: 'demo', id: 'm1', state: 'stopped', timeout_s: 5 } }

  await client.setLoggingLevel('warning')
  assert.equal((await client.callTool(wait)).isError, true)
  await client.callTool({ name: 'image_build_base', arguments: {} })
  await settle()
  assert.deepEqual(messages.map((m) => [m.level, m.logger]), [['warning', 'hangar.machines']])
  assert.match((messages[0]?.data as { message: string }).message, /^machine m1 did not become stopped within 5 s/)

  messages.length = 0
  await client.setLoggingLevel('debug')
  await client.callTool(wait)
  await client.callTool({ name: 'image_build_base', arguments: {} })
  await settle()
  const text = messages.map((m) => `${m.level} ${m.logger} ${(m.data as { message: string }).message}`)
  assert.deepEqual(text, [
    'info hangar.machines waiting up to 5 s for machine m1 to be stopped',
    'warning hangar.machines machine m1 did not become stopped within 5 s',
    'info hangar.images running apt-get update',
    // Within a phase, a line per tenth reached, not per event: 5 opens the phase, 18 repeats the tenth of 12.
    'info hangar.images Get: 5',
    'debug hangar.images Get: 12',
    'debug hangar.images Get: 25',
    'debug hangar.images Get: 31',
    'debug hangar.images Get: 47',
    'debug hangar.images Get: 99',
    'info hangar.images installing essential packages',
    'info hangar.images debian:bookworm is ready (30.0 MB)',
  ])
})

test('without setLevel a session gets info and above', async (t) => {
  const { client, messages, settle } = await session(t, backend(build))
  await client.callTool({ name: 'image_build_base', arguments: {} })
  await settle()
  assert.ok(messages.length > 0)
  assert.ok(messages.every((m) => m.level === 'info'), JSON.stringify(messages))
})

test('each session has its own level', async (t) => {
  const b = backend(build)
  const loud = await session(t, b)
  const quiet = await session(t, b)
  await loud.client.setLoggingLevel('debug')
  await quiet.client.setLoggingLevel('error')
  await Promise.all([loud.client.callTool({ name: 'image_build_base', arguments: {} }), quiet.client.callTool({ name: 'image_build_base', arguments: {} })])
  await loud.settle()
  assert.ok(loud.messages.some((m) => m.level === 'debug'))
  assert.deepEqual(quiet.messages, [])
})

test(`a call sends at most ${maxMessagesPerCall} log messages, then one notice that it stops`, async (t) => {
  const flood = Array.from({ length: 500 }, (_, i): BuildProgress => ({ phase: i % 2 ? 'downloading' : 'extracting', message: `step ${i}` }))
  const { client, messages, settle } = await session(t, backend(flood))
  await client.callTool({ name: 'image_build_base', arguments: {} })
  await settle()
  assert.equal(messages.length, maxMessagesPerCall + 1)
  assert.equal(messages.at(-1)?.level, 'notice')
})

test('image_pull: progress counts bytes and never goes back, even when a blob starts over; steps are logged', async (t) => {
  const b = backend()
  b.images.pull = async (ref, onProgress) => {
    onProgress({ phase: 'manifest', message: `resolving ${ref}` })
    onProgress({ phase: 'blob', message: 'a 50/100', digest: 'sha256:a', bytes: 50, total: 100 })
    onProgress({ phase: 'blob', message: 'a 10/100 (retry)', digest: 'sha256:a', bytes: 10, total: 100 })
    onProgress({ phase: 'blob', message: 'a 100/100', digest: 'sha256:a', bytes: 100, total: 100 })
    onProgress({ phase: 'done', message: `pulled ${ref}` })
    return { ...image, ref }
  }
  const { client, messages, settle } = await session(t, b)
  const progress: number[] = []
  const r = await client.callTool({ name: 'image_pull', arguments: { ref: 'registry.example/app:1' } }, undefined, { onprogress: (p) => progress.push(p.progress) })
  await settle()
  assert.equal((r.structuredContent as { image: { ref: string } }).image.ref, 'registry.example/app:1')
  assert.deepEqual(progress, [0, 50, 100])
  assert.deepEqual(messages.map((m) => (m.data as { message: string }).message), ['resolving registry.example/app:1', 'a 50/100', 'pulled registry.example/app:1'])
  assert.ok(messages.every((m) => m.logger === 'hangar.images'))
})
