/**
 * Resources a client can attach as context without a tool call:
 *   hangar://apps/{app}/status                 app + machines summary (JSON)
 *   hangar://apps/{app}/machines/{id}/logs     the newest log lines (text)
 * Listed a page at a time in URI order (so a cursor survives apps coming and going),
 * read by URI; completion.ts completes their arguments.
 *   handleResources(server.server, backend, pageSize)
 */
import { appGet, appList, machineList } from '../../ops/index.ts'
import type { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js'
import { ErrorCode, ListResourcesRequestSchema, ListResourceTemplatesRequestSchema, ReadResourceRequestSchema, type Resource } from '@modelcontextprotocol/sdk/types.js'
import type { AppView } from '../../platform/index.ts'
import type { Backend } from './backend.ts'
import { budgets, clipMiddle, pageItems } from './budget.ts'
import { toToolError } from './errors.ts'
import { after, firstPage, readCursor } from './pagination.ts'
import { handle, RpcError } from './requests.ts'
import { summary } from './tools/fields.ts'

/** The spec's code for a resource that does not exist. */
const resourceNotFound = -32002

export interface Template {
  name: string
  uriTemplate: string
  title: string
  description: string
  mimeType: string
  /** The concrete resources of one app. */
  list(backend: Backend, app: AppView): Promise<Resource[]>
  read(backend: Backend, vars: Record<string, string>): Promise<string>
}

export const templates: readonly Template[] = [
  {
    name: 'app-status',
    uriTemplate: 'hangar://apps/{app}/status',
    title: 'App status',
    description: "An app and its machines' states and addresses, as JSON.",
    mimeType: 'application/json',
    list: async (_backend, a) => [{ uri: `hangar://apps/${a.name}/status`, name: `${a.name} status`, description: `${a.machine_count} machine(s)` }],
    async read(backend, vars) {
      const app = await backend.run(appGet, { app: vars.app as string })
      const page = pageItems((await backend.run(machineList, { app: app.name }, {})).map(summary))
      return JSON.stringify({ app: app.name, created_at: app.created_at, machines: page.items, total_machines: page.total }, null, 1)
    },
  },
  {
    name: 'machine-logs',
    uriTemplate: 'hangar://apps/{app}/machines/{id}/logs',
    title: 'Machine logs',
    description: `The newest ${budgets.logLines} lines a machine wrote (machine_logs reads further, with a cursor).`,
    mimeType: 'text/plain',
    list: async (backend, a) =>
      (await backend.run(machineList, { app: a.name }, {})).map((m) => ({ uri: `hangar://apps/${a.name}/machines/${m.id}/logs`, name: `${a.name}/${m.name} logs` })),
    async read(backend, vars) {
      const lines = await backend.machines.logs(vars.app as string, vars.id as string, budgets.logLines)
      return clipMiddle(lines.map((l) => `${l.timestamp} ${l.stream === 'stderr' ? '[stderr] ' : ''}${l.message}`).join('\n'), budgets.logBytes * 4).text
    },
  },
]

const compiled = templates.map((t) => ({ t, match: new UriTemplate(t.uriTemplate) }))
const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/**
 * Every resource with a URI after `afterUri`, in URI order, lazily: an app whose URIs all
 * sort before the cursor is skipped without listing its machines.
 */
async function* resourcesAfter(backend: Backend, afterUri: string | undefined): AsyncGenerator<Resource> {
  const prefix = (app: string): string => `hangar://apps/${app}/`
  const apps = (await backend.run(appList, {}, {})).apps.sort((a, b) => byString(prefix(a.name), prefix(b.name)))
  for (const app of apps) {
    if (afterUri !== undefined && afterUri > `${prefix(app.name)}\uffff`) continue
    const own = await Promise.all(templates.map(async (t) => (await t.list(backend, app)).map((r) => ({ title: t.title, description: t.description, mimeType: t.mimeType, ...r }))))
    for (const r of own.flat().sort((a, b) => byString(a.uri, b.uri))) if (afterUri === undefined || r.uri > afterUri) yield r
  }
}

/** resources/list, resources/templates/list (both paginated, `pageSize` items a page) and resources/read. */
export function handleResources(server: Server, backend: Backend, pageSize: number): void {
  handle(server, ListResourcesRequestSchema, async (params) => {
    const page = await firstPage('resources', resourcesAfter(backend, readCursor('resources', params?.cursor)), (r) => r.uri, pageSize)
    return { resources: page.items, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) }
  })

  handle(server, ListResourceTemplatesRequestSchema, async (params) => {
    const rest = after('resourceTemplates', templates, (t) => t.name, params?.cursor)
    const page = await firstPage('resourceTemplates', rest, (t) => t.name, pageSize)
    const resourceTemplates = page.items.map((t) => ({ name: t.name, uriTemplate: t.uriTemplate, title: t.title, description: t.description, mimeType: t.mimeType }))
    return { resourceTemplates, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) }
  })

  handle(server, ReadResourceRequestSchema, async ({ uri }) => {
    for (const { t, match } of compiled) {
      const vars = match.match(uri)
      if (!vars) continue
      const one = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, Array.isArray(v) ? (v[0] ?? '') : v]))
      try {
        return { contents: [{ uri, mimeType: t.mimeType, text: await t.read(backend, one) }] }
      } catch (e) {
        // The same "code: message. Next: hint" a tool gives; a missing app or machine is the spec's resource-not-found.
        const err = toToolError(e)
        const code = err.code.endsWith('_not_found') ? resourceNotFound : ErrorCode.InternalError
        throw new RpcError(code, `${err.code}: ${err.message}. Next: ${err.hint}`, { uri, error: err })
      }
    }
    throw new RpcError(resourceNotFound, `resource not found: ${uri}. Next: resources/templates/list shows the URIs Hangar serves`, { uri })
  })
}
