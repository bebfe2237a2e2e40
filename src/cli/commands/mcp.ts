/**
 * hangar mcp: an MCP server on stdio for local clients (Claude Desktop, Cursor…),
 * talking to the daemon through the SDK. stdout carries the protocol, so
 * anything for people goes to stderr.
 */
import type { Command } from '../command.ts'

export const mcp: Command = {
  usage: 'hangar mcp',
  summary: 'Serve MCP on stdio for AI agents (uses HANGAR_API_URL / HANGAR_TOKEN like the CLI)',
  async run({ client }) {
    // Loaded here so that other commands do not pay for the MCP SDK.
    const [{ StdioServerTransport }, { default: pino }, { createMcpServer, sdkBackend }] = await Promise.all([
      import('@modelcontextprotocol/sdk/server/stdio.js'),
      import('pino'),
      import('../../api/mcp/index.ts'),
    ])
    const logger = pino({ level: process.env.HANGAR_LOG_LEVEL ?? 'warn', base: { svc: 'hangar-mcp' } }, pino.destination(2))
    const server = createMcpServer(sdkBackend(client()), { logger })
    const transport = new StdioServerTransport()
    const closed = new Promise<void>((resolve) => {
      server.server.onclose = resolve
      process.stdin.once('end', resolve)
    })
    await server.connect(transport)
    logger.info('hangar mcp: serving on stdio')
    await closed
    await server.close()
  },
}
