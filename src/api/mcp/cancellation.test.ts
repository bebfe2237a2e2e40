/**
 * Cancelling a long tool call (notifications/cancelled): its work stops, it sends
 * nothing more, and no response ever comes for it. With the official client, and
 * with raw JSON-RPC to see exactly what the server writes.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { LoggingMessageNotificationSchema, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import { HangarError } from '../../errors.ts'
import { connectInMemory, fakeBackend } from '../../../test/support/mcp-backend.ts'
import type { Backend } from './backend.ts'
import { beatMs } from './heartbeat.ts'
import { createMcpServer } from './server.ts'

/** A wait that only ends when its signal aborts, as the platform's does; `waits` keeps the signals it was given. */
function waitingBackend(): { backend: Backend; waits: AbortSignal[]; ended: Promise<void> } {
  const backend = fakeBackend({ demo: ['m1'] })
  const waits: AbortSignal[] = []
  let ended!: () => void
  const done = new Promise<void>((r) => (ended = r))
  backend.ops['machine.wait'] = (_params, _input, { signal }) =>
    new Promise((_resolve, reject) => {
      if (!signal) throw new Error('machine_wait must pass its signal on')
      waits.push(signal)
      const stop = (): void => {
        reject(new HangarError('wait_timeout', 'wait cancelled by the client'))
        ended()
      }
      if (signal.aborted) stop()
      else signal.addEventListener('abort', stop)
    })
  return { backend, waits, ended: done }
}

test('a cancelled machine_wait stops waiting and sends no more progress or log messages', async (t) => {
  const { backend, waits, ended } = waitingBackend()
  const client = await connectInMemory(t, backend)
  await client.setLoggingLevel('debug')
  const logs: string[] = []
  let progress = 0
  let firstLog!: () => void
  const logged = new Promise<void>((r) => (firstLog = r))
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    logs.push((n.params.data as { message: string }).message)
    firstLog()
  })
  const cancel = new AbortController()
  const call = client.callTool({ name: 'machine_wait', arguments: { app: 'demo', id: 'm1', state: 'stopped', timeout_s: 60 } }, undefined, {
    signal: cancel.signal,
    onprogress: () => progress++,
  })
  await logged
  cancel.abort('the user gave up')
  await assert.rejects(call, /the user gave up/)
  await ended
  assert.equal(waits[0]?.aborted, true, 'the backend wait saw the cancellation')
  // Past the first beat: a heartbeat still running would have sent progress and a debug line by now.
  await sleep(beatMs + 500)
  assert.deepEqual(logs, ['waiting up to 60 s for machine m1 to be stopped'])
  assert.equal(progress, 0)
})

test('the server sends no response for a cancelled request, and goes on answering others', async () => {
  const { backend, ended } = waitingBackend()
  const [serverSide, clientSide] = InMemoryTransport.createLinkedPair()
  await createMcpServer(backend).connect(serverSide)
  const received: JSONRPCMessage[] = []
  clientSide.onmessage = (m) => void received.push(m)
  await clientSide.start()
  const send = (m: Record<string, unknown>) => clientSide.send({ jsonrpc: '2.0', ...m } as JSONRPCMessage)
  const answered = async (id: number) => {
    for (let i = 0; i < 100 && !received.some((m) => 'id' in m && m.id === id); i++) await sleep(10)
    return received.find((m) => 'id' in m && m.id === id)
  }

  await send({ id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '0' } } })
  assert.ok(await answered(1))
  await send({ method: 'notifications/initialized' })
  await send({ id: 2, method: 'tools/call', params: { name: 'machine_wait', arguments: { app: 'demo', id: 'm1', state: 'stopped' } } })
  await sleep(50)
  await send({ method: 'notifications/cancelled', params: { requestId: 2, reason: 'test' } })
  await ended
  await send({ id: 3, method: 'ping' })
  assert.deepEqual(await answered(3), { jsonrpc: '2.0', id: 3, result: {} })
  assert.equal(received.find((m) => 'id' in m && m.id === 2), undefined, 'no result and no error for the cancelled call')
  await clientSide.close()
})

test('a cancelled machine_exec aborts the signal its backend exec was given', async (t) => {
  const backend = fakeBackend({ demo: ['m1'] })
  let given: AbortSignal | undefined
  let started!: () => void
  const running = new Promise<void>((r) => (started = r))
  // As the platform's exec: runs until killed, then resolves with the kill.
  backend.ops['machine.exec'] = (_params, _input, { signal }) =>
    new Promise((resolve) => {
      given = signal
      started()
      const killed = { exit_code: 137, exit_signal: 'SIGKILL', stdout: '', stderr: '', stdout_truncated: false, stderr_truncated: false, timed_out: false }
      signal?.addEventListener('abort', () => resolve(killed), { once: true })
    })
  await cancelMidCall(t, backend, { name: 'machine_exec', arguments: { app: 'demo', id: 'm1', command: 'sleep 30' } }, running, () => given)
})

test('a cancelled image_pull aborts the signal its backend pull was given', async (t) => {
  const backend = fakeBackend()
  let given: AbortSignal | undefined
  let started!: () => void
  const running = new Promise<void>((r) => (started = r))
  // As the platform's pull: rejects with the abort's reason once its signal aborts.
  backend.images.pull = (_ref, _onProgress, signal) =>
    new Promise((_resolve, reject) => {
      given = signal
      started()
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true })
    })
  await cancelMidCall(t, backend, { name: 'image_pull', arguments: { ref: '127.0.0.1:5000/slow/img:1' } }, running, () => given)
})

/** Calls the tool, cancels it once the backend runs, and checks the backend's signal saw the cancellation. */
async function cancelMidCall(t: TestContext, backend: Backend, call: { name: string; arguments: Record<string, unknown> }, running: Promise<void>, given: () => AbortSignal | undefined): Promise<void> {
  const client = await connectInMemory(t, backend)
  const cancel = new AbortController()
  const result = client.callTool(call, undefined, { signal: cancel.signal })
  await running
  assert.equal(given()?.aborted, false)
  cancel.abort('stop it')
  await assert.rejects(result, /stop it/)
  await sleep(50)
  assert.equal(given()?.aborted, true, `the backend saw ${call.name} cancelled`)
}
