/**
 * One MCP server over any Backend: the tool table, the resources, and the
 * server utilities (logging, paginated lists, completion; ping, cancellation and
 * progress come with the SDK's protocol layer). The same function serves the
 * daemon's /mcp (one server per session) and `hangar mcp` over stdio.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { CallToolRequestSchema, ListToolsRequestSchema, type Tool } from '@modelcontextprotocol/sdk/types.js'
import type { Logger } from 'pino'
import { z } from 'zod'
import type { Action } from '../../auth/index.ts'
import { HangarError } from '../../errors.ts'
import type { Backend } from './backend.ts'
import { errorResult } from './errors.ts'
import { handleCompletion } from './completion.ts'
import { handleSetLevel, SessionLog } from './logging.ts'
import { after, checkPageSize, defaultPageSize, firstPage } from './pagination.ts'
import { handle, invalidParams } from './requests.ts'
import { handleResources } from './resources.ts'
import { callTool, toolContext, type ToolDef } from './tool.ts'
import { appTools } from './tools/apps.ts'
import { fileTools } from './tools/files.ts'
import { imageTools } from './tools/images.ts'
import { lifecycleTools } from './tools/lifecycle.ts'
import { machineIoTools } from './tools/machine-io.ts'
import { machineTools } from './tools/machines.ts'
import { checkpointTools } from './tools/checkpoints.ts'
import { volumeTools } from './tools/volumes.ts'
import { tokenTools } from './tools/tokens.ts'
import { tokenizerTools } from './tools/tokenizer.ts'
import { secretTools } from './tools/secrets.ts'

/** Page one of tools/list: the typical session the instructions name, then finding out what went wrong. */
const everyday = ['image_list', 'machine_run', 'machine_exec', 'machine_logs', 'machine_update', 'machine_restart', 'machine_stop', 'machine_destroy', 'machine_status', 'machine_list']
const rank = (name: string): number => (everyday.includes(name) ? everyday.indexOf(name) : everyday.length)

/** Everyday tools first (with a page size below the tool count, a client that reads only page one still gets them), the rest in table order. */
export const tools: readonly ToolDef[] = [...machineTools, ...machineIoTools, ...fileTools, ...lifecycleTools, ...checkpointTools, ...volumeTools, ...secretTools, ...imageTools, ...appTools, ...tokenTools, ...tokenizerTools].sort((a, b) => rank(a.name) - rank(b.name))

const instructions = `Hangar runs Linux machines (containers) for you.
Typical session: image_list → machine_run (creates the app, returns id and url) → machine_exec / machine_logs → machine_update or machine_restart → machine_stop or machine_destroy.
Every machine tool takes app and id. Errors end with "Next:", the call to make. Outputs are capped; markers say how to get the rest.`

/** The tools/list entries, made once: the JSON Schemas the SDK would derive from the same zod (draft-07). */
const listed: Tool[] = tools.map((t) => ({
  name: t.name,
  title: t.title,
  description: t.description,
  inputSchema: z.toJSONSchema(t.input, { target: 'draft-7', io: 'input' }) as Tool['inputSchema'],
  outputSchema: z.toJSONSchema(t.output, { target: 'draft-7', io: 'output' }) as Tool['outputSchema'],
  annotations: { title: t.title, ...t.annotations },
}))

export interface McpServerOptions {
  logger?: Logger
  version?: string
  /** Items per page of tools/list, resources/list and resources/templates/list (default 50: every tool on one page). */
  pageSize?: number
  /** Whether the session's token allows an action: tools needing another are neither listed nor callable (default: all). */
  allows?: (action: Action) => boolean
}

/**
 * Every handler is Hangar's own, registered on the SDK's low-level server so each list
 * pages with cursors and each bad request gets the spec's error code; McpServer stays
 * the type callers hold (connect, close, server.onclose).
 */
export function createMcpServer(backend: Backend, opts: McpServerOptions = {}): McpServer {
  const server = new McpServer({ name: 'hangar', title: 'Hangar', version: opts.version ?? '0.1.0' }, { instructions })
  const s = server.server
  // Declared on the low-level server, not in McpServer's options, which would install its own
  // handlers and promise listChanged; the tool table is fixed and no list_changed is ever sent.
  s.registerCapabilities({ tools: {}, resources: {}, completions: {}, logging: {} })
  const session = new SessionLog()
  const byName = new Map(tools.map((t) => [t.name, t]))
  const pageSize = checkPageSize(opts.pageSize ?? defaultPageSize)

  const allows = opts.allows ?? (() => true)
  const shown = listed.filter((_, i) => allows((tools[i] as ToolDef).action))
  handle(s, ListToolsRequestSchema, async (params) => {
    const page = await firstPage('tools', after('tools', shown, (t) => t.name, params?.cursor), (t) => t.name, pageSize)
    return { tools: page.items, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) }
  })
  // A tool's bad arguments are a tool result naming the fields (the spec's "tool execution error",
  // one a model can fix); a tool that does not exist is the spec's protocol error, -32602.
  handle(s, CallToolRequestSchema, async ({ name, arguments: args }, extra) => {
    const t = byName.get(name)
    if (!t) throw invalidParams(`unknown tool: ${name}. Next: call one of ${[...byName.keys()].join(', ')}`)
    if (!allows(t.action)) return errorResult(new HangarError('caveat_denied', `permission denied by the token's actions caveat: ${name} needs ${t.action}`, { details: { caveat: 'actions' } }))
    return callTool(t, args, toolContext(backend, extra, session, t.name), opts.logger)
  })
  handleResources(s, backend, pageSize)
  handleCompletion(s, backend)
  handleSetLevel(s, session)
  return server
}
