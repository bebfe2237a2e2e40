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

/** `apps`: app name → its machine ids (all started). */
export function fakeBackend(apps: Record<string, string[]> = {}): Backend {
  const app = (name: string): string[] => {
    const ids = apps[name]
    if (!ids) throw new HangarError('app_not_found', `app not found: ${name}`)
    return ids
  }
  return {
    tokens: { create: refuse },
    apps: { list: async () => Object.entries(apps).map(([n, ids]) => appView(n, ids.length)), get: async (n) => appView(n, app(n).length), create: refuse, destroy: refuse },
    machines: {
      list: async (a) => app(a).map((id) => machineView(id)),
      get: async (a, id) => {
        if (!app(a).includes(id)) throw new HangarError('machine_not_found', `machine not found: ${id}`)
        return machineView(id)
      },
      create: refuse, update: refuse, start: refuse, stop: refuse, restart: refuse, destroy: refuse, wait: refuse, exec: refuse, events: async () => [],
      logs: async () => [{ timestamp: '2024-01-01T00:00:01Z', stream: 'stdout' as const, message: 'hello' }],
    },
    checkpoints: { create: refuse, list: async () => [], delete: refuse, restore: refuse, fork: refuse },
    volumes: { create: refuse, list: async () => [], extend: refuse, snapshot: refuse, destroy: refuse },
    secrets: { list: async () => ({ secrets: [], version: 0 }), update: refuse },
    files: { read: refuse, write: refuse, list: refuse, delete: refuse, rename: refuse },
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
