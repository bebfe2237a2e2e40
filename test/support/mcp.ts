/**
 * MCP clients on a test daemon, over Streamable HTTP (/mcp) or stdio (`hangar mcp`),
 * with a meter that counts tool calls, time and the largest output, as a robot
 * pays for them. Each connection closes itself when the test ends.
 */
import type { TestContext } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import type { Progress, Tool } from '@modelcontextprotocol/sdk/types.js'
import { cliMain, nodeBin, type TestDaemon } from './daemon.ts'

export type Connect = (t: TestContext, d: TestDaemon) => Promise<Client>

/** tools/list is paginated: every page, following nextCursor until there is none. */
export async function listAllTools(client: Client): Promise<Tool[]> {
  const tools: Tool[] = []
  let cursor: string | undefined
  do {
    const page = await client.listTools(cursor ? { cursor } : {})
    tools.push(...page.tools)
    cursor = page.nextCursor
  } while (cursor)
  return tools
}

export const connectHttp: Connect = async (t, d) => {
  const client = new Client({ name: 'hangar-test', version: '0' })
  await client.connect(new StreamableHTTPClientTransport(new URL('/mcp', d.url), { requestInit: { headers: { authorization: `Bearer ${d.token}` } } }))
  t.after(() => client.close())
  return client
}

export const connectStdio: Connect = async (t, d) => {
  const client = new Client({ name: 'hangar-test', version: '0' })
  const env = Object.fromEntries(Object.entries(d.env).filter((e): e is [string, string] => typeof e[1] === 'string'))
  const transport = new StdioClientTransport({ command: nodeBin, args: [cliMain, 'mcp'], env, stderr: 'pipe' })
  let stderr = ''
  transport.stderr?.on('data', (b) => (stderr += b))
  await client.connect(transport)
  t.after(async () => {
    await client.close()
    if (stderr.trim()) t.diagnostic(`hangar mcp stderr: ${stderr.trim()}`)
  })
  return client
}

export interface ToolResult<T = Record<string, unknown>> {
  isError: boolean
  text: string
  structured: T
  /** On errors: code, message and hint (the result's _meta['hangar/error']). */
  error: { code: string; message: string; hint: string } | undefined
  /** Size of the whole result as JSON: what it costs a robot's context. */
  bytes: number
}

/** Calls tools and keeps the figures a robot session is judged by. */
export class ToolMeter {
  readonly #client: Client
  readonly #began = Date.now()
  calls = 0
  largestBytes = 0
  largestTool = ''

  constructor(client: Client) {
    this.#client = client
  }

  async call<T = Record<string, unknown>>(name: string, args: Record<string, unknown>, opts: { onprogress?: (p: Progress) => void; timeoutMs?: number } = {}): Promise<ToolResult<T>> {
    this.calls++
    const r = await this.#client.callTool({ name, arguments: args }, undefined, {
      ...(opts.onprogress ? { onprogress: opts.onprogress } : {}),
      timeout: opts.timeoutMs ?? 120_000,
    })
    const bytes = Buffer.byteLength(JSON.stringify(r))
    if (bytes > this.largestBytes) [this.largestBytes, this.largestTool] = [bytes, name]
    const text = (r.content as { type: string; text?: string }[]).map((c) => c.text ?? '').join('\n')
    const error = (r._meta as Record<string, unknown> | undefined)?.['hangar/error'] as ToolResult['error']
    return { isError: r.isError === true, text, structured: (r.structuredContent ?? {}) as T, error, bytes }
  }

  get elapsedMs(): number {
    return Date.now() - this.#began
  }
}
