/**
 * One MCP server over any Backend: every tool table and the resources,
 * registered with the SDK. The same function serves the daemon's /mcp (one
 * server per session) and `hangar mcp` over stdio.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { CallToolRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import type { Logger } from 'pino'
import { HangarError } from '../../errors.ts'
import type { Backend } from './backend.ts'
import { errorResult } from './errors.ts'
import { registerResources } from './resources.ts'
import { callTool, toolContext, type ToolDef } from './tool.ts'
import { appTools } from './tools/apps.ts'
import { imageTools } from './tools/images.ts'
import { lifecycleTools } from './tools/lifecycle.ts'
import { machineIoTools } from './tools/machine-io.ts'
import { machineTools } from './tools/machines.ts'

export const tools: readonly ToolDef[] = [...appTools, ...machineTools, ...lifecycleTools, ...machineIoTools, ...imageTools]

const instructions = `Hangar runs Linux machines (containers) for you.
Typical session: image_list → machine_run (creates the app, returns id and url) → machine_exec / machine_logs → machine_update or machine_restart → machine_stop or machine_destroy.
Every machine tool takes app and id. Errors end with "Next:", the call to make. Outputs are capped; markers say how to get the rest.`

export interface McpServerOptions {
  logger?: Logger
  version?: string
}

export function createMcpServer(backend: Backend, opts: McpServerOptions = {}): McpServer {
  const server = new McpServer({ name: 'hangar', title: 'Hangar', version: opts.version ?? '0.1.0' }, { instructions })
  const byName = new Map(tools.map((t) => [t.name, t]))
  for (const t of tools) {
    server.registerTool(
      t.name,
      { title: t.title, description: t.description, inputSchema: t.input, outputSchema: t.output, annotations: { title: t.title, ...t.annotations } },
      (args, extra) => callTool(t, args, toolContext(backend, extra), opts.logger),
    )
  }
  registerResources(server, backend)
  // The SDK would reject bad arguments with its own wording; taking tools/call over
  // makes them Hangar errors like any other: code, the fields named, what to do next.
  server.server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const t = byName.get(req.params.name)
    if (!t) return errorResult(new HangarError('invalid_argument', `no tool named ${req.params.name}`, { hint: `call one of: ${[...byName.keys()].join(', ')}` }))
    return callTool(t, req.params.arguments, toolContext(backend, extra), opts.logger)
  })
  return server
}
