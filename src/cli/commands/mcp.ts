/**
 * hangar mcp: an MCP server on stdio for local clients (Claude Desktop, Cursor…),
 * relayed to the daemon's own /mcp with the CLI's token (api/mcp/relay.ts).
 * stdout carries the protocol, so anything for people goes to stderr.
 */
import type { Command } from '../command.ts'

export const mcp: Command = {
  usage: 'hangar mcp',
  summary: 'Serve MCP on stdio for AI agents, relayed to the daemon (uses HANGAR_API_URL / HANGAR_TOKEN like the CLI)',
  async run({ client }) {
    // Loaded here so that other commands do not pay for the MCP SDK.
    const [{ default: pino }, { relayStdio }] = await Promise.all([import('pino'), import('../../api/mcp/relay.ts')])
    const logger = pino({ level: process.env.HANGAR_LOG_LEVEL ?? 'warn', base: { svc: 'hangar-mcp' } }, pino.destination(2))
    await relayStdio(client(), { logger })
  },
}
