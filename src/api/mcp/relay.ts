/**
 * `hangar mcp`: MCP on stdio, relayed message for message to the daemon's own
 * server at /mcp (Streamable HTTP). One server, one set of tools and rules: a
 * local client gets exactly what an HTTP client gets (progress, logging,
 * cancellation, pagination), with the daemon's token. The one exception is
 * `image_import`, whose path names a file on the host this process runs on: it
 * runs here, through the same tool definition, uploading the file with the SDK.
 *
 *   await relayStdio(Hangar.fromEnv(), { logger })
 */
import type { Logger } from 'pino'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import { openAsBlob } from 'node:fs'
import { HangarError } from '../../errors.ts'
import type { Hangar } from '../../sdk/index.ts'
import type { Backend } from './backend.ts'
import { createMcpServer } from './server.ts'

type Id = string | number

/** A backend that can do only what must happen on this host: upload a local archive. */
function localImports(hangar: Hangar): Backend {
  const elsewhere = (): never => {
    throw new HangarError('internal', 'only image_import runs in hangar mcp; every other tool runs in the daemon')
  }
  const no = new Proxy({}, { get: () => elsewhere }) as never
  return { tokens: no, tokenizer: no, secrets: no, machines: no, run: elsewhere, images: { ...(no as object), importFile: async (path, o) => hangar.images.import(await openAsBlob(path), o) } as Backend['images'] }
}

/** A tools/call of image_import: answered here, not by the daemon. */
function isLocalCall(m: JSONRPCMessage): m is JSONRPCMessage & { id: Id; params: { name: string; arguments?: Record<string, unknown> } } {
  return 'method' in m && m.method === 'tools/call' && 'id' in m && (m.params as { name?: string } | undefined)?.name === 'image_import'
}

export async function relayStdio(hangar: Hangar, opts: { logger: Logger }): Promise<void> {
  const { logger } = opts
  const upstream = new StreamableHTTPClientTransport(new URL('/mcp', hangar.baseUrl), { requestInit: { headers: { authorization: `Bearer ${hangar.token}` } } })
  const stdio = new StdioServerTransport()
  const initializing = new Set<Id>()

  // image_import's own server and client, in memory, created on first use.
  const local: { client: Promise<Client> | null } = { client: null }
  const localClient = (): Promise<Client> => (local.client ??= (async () => {
    const [a, b] = InMemoryTransport.createLinkedPair()
    await createMcpServer(localImports(hangar), { logger }).connect(a)
    const client = new Client({ name: 'hangar-mcp-relay', version: '0' })
    await client.connect(b)
    return client
  })())

  const fail = (id: Id, e: unknown): Promise<void> =>
    stdio.send({ jsonrpc: '2.0', id, error: { code: -32603, message: `hangar mcp could not reach the daemon at ${hangar.baseUrl}: ${(e as Error).message}` } })

  stdio.onmessage = (m) => {
    if (isLocalCall(m)) {
      void localClient()
        .then((c) => c.callTool({ name: m.params.name, arguments: m.params.arguments ?? {} }))
        .then((result) => stdio.send({ jsonrpc: '2.0', id: m.id, result }), (e) => fail(m.id, e))
      return
    }
    if ('method' in m && m.method === 'initialize' && 'id' in m) initializing.add(m.id)
    upstream.send(m).catch((e: unknown) => {
      logger.warn({ err: String(e) }, 'relay to the daemon failed')
      if ('id' in m && 'method' in m) void fail(m.id, e)
    })
  }
  upstream.onmessage = (m) => {
    // Later requests must name the protocol version the daemon agreed to.
    if ('id' in m && 'result' in m && initializing.delete(m.id)) {
      const version = (m.result as { protocolVersion?: string }).protocolVersion
      if (version) upstream.setProtocolVersion(version)
    }
    stdio.send(m).catch((e: unknown) => logger.warn({ err: String(e) }, 'writing to stdout failed'))
  }
  let closing = false
  // Ending the session cuts the daemon's event stream: not worth a warning then.
  upstream.onerror = (e) => { if (!closing) logger.warn({ err: String(e) }, 'daemon connection error') }

  const closed = new Promise<void>((resolve) => {
    stdio.onclose = resolve
    process.stdin.once('end', resolve)
  })
  await upstream.start()
  await stdio.start()
  logger.info({ daemon: hangar.baseUrl }, 'hangar mcp: relaying stdio to the daemon')
  await closed
  closing = true
  // Ends the daemon's session too (DELETE /mcp), so it does not wait for a timeout.
  await upstream.terminateSession().catch(() => {})
  await upstream.close()
  if (local.client) await (await local.client).close()
}
