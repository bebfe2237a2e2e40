/** App tools: list, create, destroy. An app is a named group of machines. */
import { appCreate, appDestroy, appList } from '../../../ops/index.ts'
import { z } from 'zod'
import { pageItems } from '../budget.ts'
import { creates, destroys, opTool, readOnly } from '../tool.ts'
import { appName, idempotencyKey, limit, offset } from './fields.ts'

const appLine = z.object({ name: z.string(), machines: z.number().int(), created_at: z.string() })

export const appTools = [
  opTool(appList, {
    name: 'app_list',
    title: 'List apps',
    description: 'List the apps on this Hangar with their machine counts. Use it to find where existing work lives before creating anything.',
    input: z.object({ limit, offset }),
    output: z.object({ apps: z.array(appLine), total: z.number().int(), next_offset: z.number().int().nullable() }),
    annotations: readOnly,
    async run({ limit, offset }, { backend }) {
      const page = pageItems((await backend.run(appList, {}, {})).apps, offset, limit)
      const apps = page.items.map((a) => ({ name: a.name, machines: a.machine_count, created_at: a.created_at }))
      const lines = apps.map((a) => `${a.name}  ${a.machines} machine(s)`)
      const more = page.next_offset !== null ? `\n[${page.total - page.next_offset} more: call app_list with offset=${page.next_offset}]` : ''
      return {
        structured: { apps, total: page.total, next_offset: page.next_offset },
        text: apps.length ? `${page.total} app(s):\n${lines.join('\n')}${more}` : 'no apps yet; machine_run creates one for you, or call app_create',
      }
    },
  }),

  opTool(appCreate, {
    name: 'app_create',
    title: 'Create an app',
    description: 'Create an empty app. Rarely needed: machine_run creates a missing app itself. Fails with name_taken if the app exists (unless retried with the same idempotency_key).',
    input: z.object({ name: appName, idempotency_key: idempotencyKey }),
    output: z.object({ name: z.string(), created_at: z.string() }),
    annotations: creates,
    async run({ name, idempotency_key }, { backend }) {
      const app = await backend.run(appCreate, {}, { app_name: name }, idempotency_key ? { idempotencyKey: idempotency_key } : {})
      return { structured: { name: app.name, created_at: app.created_at }, text: `created app ${app.name}; next: machine_run with app "${app.name}"` }
    },
  }),

  opTool(appDestroy, {
    name: 'app_destroy',
    title: 'Destroy an app',
    description: 'Destroy an app and every machine in it, for good (their disks too). Without force it refuses while machines run; with force it kills them.',
    input: z.object({
      name: appName,
      force: z.boolean().default(false).meta({ description: 'Also destroy running machines.' }),
    }),
    output: z.object({ name: z.string(), destroyed: z.literal(true) }),
    annotations: destroys,
    async run({ name, force }, { backend }) {
      await backend.run(appDestroy, { app: name }, { force })
      return { structured: { name, destroyed: true as const }, text: `destroyed app ${name} and its machines` }
    },
  }),
]
