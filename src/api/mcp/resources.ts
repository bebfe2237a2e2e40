/**
 * Resources a client can attach as context without a tool call:
 *   hangar://apps/{app}/status                 app + machines summary (JSON)
 *   hangar://apps/{app}/machines/{id}/logs     the newest log lines (text)
 */
import { type McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js'
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js'
import type { Backend } from './backend.ts'
import { budgets, clipMiddle, pageItems } from './budget.ts'
import { toToolError } from './errors.ts'
import { summary } from './tools/fields.ts'

const one = (v: string | string[] | undefined): string => (Array.isArray(v) ? (v[0] ?? '') : (v ?? ''))

/** Resource reads fail as JSON-RPC errors; give them the same "code: message. Next: hint" text as tools. */
async function readOrExplain<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (e) {
    const err = toToolError(e)
    const code = err.code.endsWith('_not_found') ? -32002 : ErrorCode.InternalError // -32002: resource not found
    throw new McpError(code, `${err.code}: ${err.message}. Next: ${err.hint}`, { error: err })
  }
}

export function registerResources(server: McpServer, backend: Backend): void {
  server.registerResource(
    'app-status',
    new ResourceTemplate('hangar://apps/{app}/status', {
      list: async () => ({
        resources: pageItems(await backend.apps.list()).items.map((a) => ({
          uri: `hangar://apps/${a.name}/status`, name: `${a.name} status`, mimeType: 'application/json', description: `${a.machine_count} machine(s)`,
        })),
      }),
    }),
    { title: 'App status', description: "An app and its machines' states and addresses, as JSON.", mimeType: 'application/json' },
    (uri, vars) =>
      readOrExplain(async () => {
        const app = await backend.apps.get(one(vars.app))
        const page = pageItems((await backend.machines.list(app.name)).map(summary))
        const status = { app: app.name, created_at: app.created_at, machines: page.items, total_machines: page.total }
        return { contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(status, null, 1) }] }
      }),
  )

  server.registerResource(
    'machine-logs',
    new ResourceTemplate('hangar://apps/{app}/machines/{id}/logs', {
      list: async () => {
        const resources = []
        for (const a of await backend.apps.list()) {
          for (const m of await backend.machines.list(a.name)) {
            resources.push({ uri: `hangar://apps/${a.name}/machines/${m.id}/logs`, name: `${a.name}/${m.name} logs`, mimeType: 'text/plain' })
          }
          if (resources.length >= budgets.listItems) break
        }
        return { resources: resources.slice(0, budgets.listItems) }
      },
    }),
    { title: 'Machine logs', description: `The newest ${budgets.logLines} lines a machine wrote (machine_logs reads further, with a cursor).`, mimeType: 'text/plain' },
    (uri, vars) =>
      readOrExplain(async () => {
        const lines = await backend.machines.logs(one(vars.app), one(vars.id), budgets.logLines)
        const text = clipMiddle(lines.map((l) => `${l.timestamp} ${l.stream === 'stderr' ? '[stderr] ' : ''}${l.message}`).join('\n'), budgets.logBytes * 4).text
        return { contents: [{ uri: uri.href, mimeType: 'text/plain', text }] }
      }),
  )
}
