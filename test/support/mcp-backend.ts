/**
 * An MCP Backend in memory, for unit tests of the MCP server on a linked
 * in-memory transport with the official client: apps and machines from a plain
 * table, every other call refused unless a test overrides it.
 *   const client = await connectInMemory(t, fakeBackend({ demo: ['m1', 'm2'] }), { pageSize: 4 })
 */
import type { TestContext } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { HangarError } from '../../src/errors.ts'
import type { AppView, MachineView } from '../../src/platform/index.ts'
import type { Backend } from '../../src/api/mcp/backend.ts'
import type { Call } from '../../src/platform/operations.ts'
import { createMcpServer, type McpServerOptions } from '../../src/api/mcp/server.ts'

export function machineView(id: string, state = 'started', name = `m-${id}`): MachineView {
  return {
    id, name, state, region: 'local', instance_id: 'v1', version: 'v1', private_ip: '10.0.0.2', private_ipv6: null,
    config: { image: 'busybox:latest' }, image_ref: {}, created_at: 'now', updated_at: 'now', events: [], host_status: 'ok', restart_count: 0,
  }
}

function appView(name: string, machines: number): AppView {
  return { id: name, name, status: 'deployed', network: 'default', machine_count: machines, volume_count: 0, organization: { name: 'p', slug: 'personal' }, created_at: 'now' }
}

const refuse = (): never => {
  throw new Error('not used by this test')
}

/** A declared operation's stand-in: params, input and call as Backend.run got them. */
export type FakeOp = (params: Record<string, string>, input: unknown, call: Call) => Promise<unknown>

/** A Backend whose declared operations are answered by `ops`, by declaration id; a test may add or replace any. */
export type FakeBackend = Backend & { ops: Record<string, FakeOp> }

/** `apps`: app name → its machine ids (all started). */
export function fakeBackend(apps: Record<string, string[]> = {}): FakeBackend {
  const app = (name: string): string[] => {
    const ids = apps[name]
    if (!ids) throw new HangarError('app_not_found', `app not found: ${name}`)
    return ids
  }
  const ops: Record<string, FakeOp> = {
    'app.list': async () => {
      const list = Object.entries(apps).map(([n, ids]) => appView(n, ids.length))
      return { total_apps: list.length, apps: list }
    },
    'app.get': async ({ app: n }) => appView(n!, app(n!).length),
    'machine.list': async ({ app: a }) => app(a!).map((id) => machineView(id)),
    'machine.get': async ({ app: a, id }) => {
      if (!app(a!).includes(id!)) throw new HangarError('machine_not_found', `machine not found: ${id}`)
      return machineView(id!)
    },
    'machine.events': async () => [],
  }
  return {
    ops,
    tokens: { create: refuse },
    tokenizer: { seal: refuse, info: refuse },
    machines: {
      logs: async () => [{ timestamp: '2024-01-01T00:00:01Z', stream: 'stdout' as const, message: 'hello' }],
    },
    secrets: { list: async () => ({ secrets: [], version: 0 }), update: refuse },
    run: async (spec, params, input, call = {}) => {
      const op = ops[spec.id]
      if (!op) return refuse()
      return (await op(params as Record<string, string>, input, call)) as never
    },
    images: { list: async () => [], get: refuse, importFile: refuse, buildBase: refuse, pull: refuse },
  }
}

/** The official client on one end of a linked in-memory pair, the server on the other; both closed after the test. */
export async function connectInMemory(t: TestContext, backend: Backend, opts: McpServerOptions = {}): Promise<Client> {
  const [serverSide, clientSide] = InMemoryTransport.createLinkedPair()
  const server = createMcpServer(backend, opts)
  await server.connect(serverSide)
  const client = new Client({ name: 'test', version: '0' })
  await client.connect(clientSide)
  t.after(() => client.close())
  return client
}
