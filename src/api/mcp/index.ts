/**
 * MCP for robots: the platform as a few whole-job tools (machine_run, machine_exec,
 * machine_logs, …) and two resources, over Streamable HTTP at /mcp in the daemon
 * or over stdio through the SDK (`hangar mcp`). One tool table serves both.
 *   mountMcp(honoApp, platform)                                      // in the daemon
 *   await relayStdio(Hangar.fromEnv(), { logger })   // hangar mcp: stdio relayed to the daemon's /mcp
 */
export { createMcpServer, tools } from './server.ts'
export type { McpServerOptions } from './server.ts'
export { defaultPageSize } from './pagination.ts'
export { mountMcp, originAllowed } from './http.ts'
export type { McpHttpOptions } from './http.ts'
export { platformBackend } from './backend.ts'
export { relayStdio } from './relay.ts'
export type { Backend } from './backend.ts'
