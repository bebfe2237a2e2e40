/** Machine tools that make, find, change and remove machines. Lifecycle verbs are in lifecycle.ts, exec and logs in machine-io.ts. */
import { appCreate, appGet, machineCreate, machineDestroy, machineEvents, machineGet, machineList, machineUpdate } from '../../../ops/index.ts'
import { z } from 'zod'
import { HangarError } from '../../../errors.ts'
import type { MachineEventView, MachineView } from '../../../platform/index.ts'
import type { Backend } from '../backend.ts'
import { httpService } from '../../../proxy/index.ts'
import { pageItems } from '../budget.ts'
import { changes, creates, destroys, opTool, readOnly } from '../tool.ts'
import { appName, idempotencyKey, limit, machineRef, machineStates, machineSummary, offset, summary } from './fields.ts'

const envValues = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string())
const port = z.number().int().min(1).max(65535)

/** Where the machine serves HTTP: the proxy's own rule for its port (config service, else the image's exposed port, else 8080). */
function urlOf(m: MachineView): string | null {
  return m.private_ip ? `http://${m.private_ip}:${httpService(m.config, m.image_ref).port}` : null
}

/** One line per event, newest first: "2024-06-01T10:00:00.000Z exit → stopped (flyd) exit_code=0". */
export function eventLine(e: MachineEventView): string {
  const exit = e.request?.exit_event as { exit_code?: number; oom_killed?: boolean } | undefined
  const error = typeof e.request?.error === 'string' ? ` error=${e.request.error}` : ''
  const code = exit ? ` exit_code=${exit.exit_code}${exit.oom_killed ? ' oom_killed' : ''}` : ''
  return `${new Date(e.timestamp).toISOString()} ${e.type} → ${e.status} (${e.source})${code}${error}`
}

const placed = machineSummary.extend({ app: z.string(), url: z.string().nullable() })

async function placedView(backend: Backend, app: string, m: MachineView): Promise<z.infer<typeof placed>> {
  return { ...summary(m), app, url: urlOf(m) }
}

export const machineTools = [
  opTool(machineCreate, {
    name: 'machine_run',
    title: 'Run a machine',
    description:
      'Start a new machine from an image and wait until it runs: the one call to get code running. Creates the app if it does not exist. Returns the id (for every other machine_* tool), its private IP and the URL of its HTTP port. Pass idempotency_key so a retry cannot start a second machine.',
    input: z.object({
      app: appName,
      image: z.string().min(1).meta({ description: 'Local image reference (see image_list).', examples: ['busybox:latest', 'debian:bookworm'] }),
      name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/).optional().meta({ description: 'Unique name in the app; generated when left out.', examples: ['web'] }),
      cmd: z.array(z.string()).min(1).optional().meta({ description: "Command argv, replacing the image's CMD (its ENTRYPOINT stays).", examples: [['httpd', '-f', '-p', '8080', '-h', '/www']] }),
      env: envValues.optional().meta({ description: 'Environment variables.', examples: [{ GREETING: 'hello' }] }),
      cpus: z.number().int().min(1).max(64).optional().meta({ description: 'CPU count (default 1).' }),
      memory_mb: z.number().int().min(64).max(65536).optional().meta({ description: 'Memory in MB (default 256).' }),
      port: port.optional().meta({ description: "The port the machine serves HTTP on, for the returned url (default: the image's first exposed port, else 8080)." }),
      volume: z.object({ id: z.string(), path: z.string() }).optional().meta({ description: 'A volume of the app (volume_create) to mount; its data outlives the machine. One machine at a time.', examples: [{ id: 'vol_3k9x2m7q8w1z5p4r', path: '/data' }] }),
      idempotency_key: idempotencyKey,
    }),
    output: placed,
    annotations: creates,
    async run(a, { backend }) {
      await backend.run(appGet, { app: a.app }).catch(async (e: unknown) => {
        if ((e as HangarError).code !== 'app_not_found') throw e
        await backend.run(appCreate, {}, { app_name: a.app }).catch((e2: unknown) => {
          if ((e2 as HangarError).code !== 'name_taken') throw e2 // someone else created it meanwhile: fine
        })
      })
      const guest = a.cpus || a.memory_mb ? { guest: { ...(a.cpus ? { cpus: a.cpus } : {}), ...(a.memory_mb ? { memory_mb: a.memory_mb } : {}) } } : {}
      const config = {
        image: a.image,
        ...(a.env ? { env: a.env } : {}),
        ...(a.cmd ? { init: { cmd: a.cmd } } : {}),
        ...(a.port ? { services: [{ protocol: 'tcp' as const, internal_port: a.port }] } : {}),
        ...(a.volume ? { mounts: [{ volume: a.volume.id, path: a.volume.path }] } : {}),
        ...guest,
      }
      const m = await backend.run(machineCreate, { app: a.app }, { config, ...(a.name ? { name: a.name } : {}) }, a.idempotency_key ? { idempotencyKey: a.idempotency_key } : {})
      const view = await placedView(backend, a.app, m)
      const next = m.state === 'started' ? `next: machine_exec or machine_logs with app "${a.app}" id "${m.id}"` : `it is ${m.state}: machine_status and machine_logs say why`
      return { structured: view, text: `machine ${m.id} (${m.name}) in app ${a.app} is ${m.state} at ${m.private_ip ?? 'no address'}${view.url ? `; url ${view.url}` : ''}\n${next}` }
    },
  }),

  opTool(machineList, {
    name: 'machine_list',
    title: 'List machines',
    description: "List an app's machines with state and address. Use it to find a machine id, or to see what is running.",
    input: z.object({ app: appName, state: z.array(z.enum(machineStates)).optional().meta({ description: 'Only machines in these states.', examples: [['started']] }), limit, offset }),
    output: z.object({ machines: z.array(machineSummary), total: z.number().int(), next_offset: z.number().int().nullable() }),
    annotations: readOnly,
    async run({ app, state, limit, offset }, { backend }) {
      const all = (await backend.run(machineList, { app }, {})).filter((m) => !state || (state as string[]).includes(m.state))
      const page = pageItems(all.map(summary), offset, limit)
      const lines = page.items.map((m) => `${m.id}  ${m.name}  ${m.state}  ${m.private_ip ?? '-'}  ${m.image}`)
      const more = page.next_offset !== null ? `\n[${page.total - page.next_offset} more: call machine_list with offset=${page.next_offset}]` : ''
      return {
        structured: { machines: page.items, total: page.total, next_offset: page.next_offset },
        text: page.total ? `${page.total} machine(s) in ${app}:\n${lines.join('\n')}${more}` : `no machines in ${app}; start one with machine_run`,
      }
    },
  }),

  opTool(machineGet, {
    name: 'machine_status',
    title: 'Machine status',
    description: "One machine's state, address, URL, health checks and latest events (starts, exits with their codes, failures). Use it when something did not work, before reading logs.",
    input: z.object({ ...machineRef, events: z.number().int().min(0).max(20).default(5).meta({ description: 'How many recent events (default 5).' }) }),
    output: placed.extend({ restart_count: z.number().int(), updated_at: z.string(), events: z.array(z.string()), checks: z.array(z.string()).optional() }),
    annotations: readOnly,
    async run({ app, id, events }, { backend }) {
      const m = await backend.run(machineGet, { app, id }, {})
      const recent = events ? (await backend.run(machineEvents, { app, id }, { limit: events })).map(eventLine) : []
      // A failing check is why a started machine gets no traffic: say so next to its state.
      const checks = (m.checks ?? []).map((c) => `${c.name} ${c.status}: ${c.output}`)
      const view = { ...(await placedView(backend, app, m)), restart_count: m.restart_count, updated_at: m.updated_at, events: recent, ...(checks.length ? { checks } : {}) }
      return { structured: view, text: `machine ${m.id} (${m.name}) is ${m.state} at ${m.private_ip ?? 'no address'}${view.url ? `; url ${view.url}` : ''}\n${[...checks, ...recent].join('\n')}` }
    },
  }),

  opTool(machineUpdate, {
    name: 'machine_update',
    title: 'Change a machine',
    description:
      'Change a machine\'s image, command, environment or size, keeping everything else (its disk too). A running machine restarts on the new config. env is merged: keys you give are set, keys set to null are removed.',
    input: z.object({
      ...machineRef,
      image: z.string().min(1).optional().meta({ description: 'New image reference.' }),
      cmd: z.array(z.string()).min(1).optional().meta({ description: "New command argv, replacing the image's CMD." }),
      env: z.record(z.string(), z.string().nullable()).optional().meta({ description: 'Variables to set; null removes one.', examples: [{ MODE: 'prod', DEBUG: null }] }),
      cpus: z.number().int().min(1).max(64).optional(),
      memory_mb: z.number().int().min(64).max(65536).optional(),
      refresh_secrets: z.boolean().optional().meta({ description: 'Give it the app\'s secrets as they are now (secret_set reaches a machine only when it is updated); alone, it changes nothing else.' }),
    }),
    output: placed.extend({ version: z.string() }),
    annotations: changes,
    async run({ app, id, image, cmd, env, cpus, memory_mb, refresh_secrets }, { backend }) {
      const current = await backend.run(machineGet, { app, id }, {})
      const config = { ...current.config } as Record<string, unknown> & { image: string }
      if (image) config.image = image
      if (cmd) config.init = { ...(config.init as object | undefined), cmd }
      if (env) {
        const merged = { ...(config.env as Record<string, string> | undefined) }
        for (const [k, v] of Object.entries(env)) v === null ? delete merged[k] : (merged[k] = v)
        config.env = merged
      }
      if (cpus || memory_mb) config.guest = { ...(config.guest as object | undefined), ...(cpus ? { cpus } : {}), ...(memory_mb ? { memory_mb } : {}) }
      if (!image && !cmd && !env && !cpus && !memory_mb && !refresh_secrets) throw new HangarError('invalid_argument', 'nothing to change', { hint: 'give at least one of image, cmd, env, cpus, memory_mb, refresh_secrets' })
      const m = await backend.run(machineUpdate, { app, id }, { config })
      const view = { ...(await placedView(backend, app, m)), version: m.instance_id }
      return { structured: view, text: `machine ${m.id} updated to version ${m.instance_id}; it is ${m.state}${view.url ? `; url ${view.url}` : ''}` }
    },
  }),

  opTool(machineDestroy, {
    name: 'machine_destroy',
    title: 'Destroy a machine',
    description: 'Remove a machine for good, disk included. A running machine needs force: true (or machine_stop first).',
    input: z.object({ ...machineRef, force: z.boolean().default(false).meta({ description: 'Kill it if running.' }) }),
    output: z.object({ id: z.string(), destroyed: z.literal(true) }),
    annotations: destroys,
    async run({ app, id, force }, { backend }) {
      await backend.run(machineDestroy, { app, id }, { force })
      return { structured: { id, destroyed: true as const }, text: `destroyed machine ${id}` }
    },
  }),
]

export { urlOf }
