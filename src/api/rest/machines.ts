/** /v1/apps/{app}/machines: CRUD and the lifecycle verbs. */
import type { Context } from 'hono'
import type { Platform } from '../../platform/index.ts'
import { schemas } from '../../platform/index.ts'
import { parse } from '../../platform/validate.ts'
import { mayReachMachine } from '../../auth/index.ts'
import { boolQuery, callerOf, nonceOf, readJson, readObject, type RouteDef } from './route.ts'

const M = '/v1/apps/:app/machines/:id'
const ids = (c: Context): [string, string] => [c.req.param('app') as string, c.req.param('id') as string]

/** metadata.{key}=value query parameters, ANDed. */
function metadataFilter(c: Context): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(c.req.query())) if (k.startsWith('metadata.')) out[k.slice(9)] = v
  return out
}

/** Fly sends restart and stop options in the query (fly-go) or the body (docs); accept both. */
async function stopOptions(c: Context): Promise<{ signal?: string | number; timeout?: string | number }> {
  const body = await readObject(c)
  const q = c.req.query()
  const merged = { ...(q.signal ? { signal: q.signal } : {}), ...(q.timeout ? { timeout: /^\d+$/.test(q.timeout) ? `${q.timeout}s` : q.timeout } : {}), ...body }
  return parse(schemas.stopMachine, merged, 'stop request')
}

export function machineRoutes(platform: Platform, owner: (c: Context) => string): RouteDef[] {
  const pm = platform.machines
  return [
    {
      method: 'get', path: '/v1/apps/:app/machines', access: { action: 'read', listing: 'machines' }, tag: 'machines', summary: 'List machines',
      query: { state: 'comma-separated states', include_deleted: 'include destroyed machines', 'metadata.{key}': 'only machines whose metadata key equals the value' },
      handler: (c) => {
        const states = c.req.query('state')?.split(',').filter(Boolean)
        const { caveats } = callerOf(c)
        const all = pm.list(c.req.param('app') as string, { ...(states ? { states } : {}), includeDestroyed: boolQuery(c, 'include_deleted'), metadata: metadataFilter(c) })
        // A token limited to some machines sees only those.
        return c.json(all.filter((m) => mayReachMachine(caveats, m.id)))
      },
    },
    {
      method: 'post', path: '/v1/apps/:app/machines', access: { action: 'create' }, tag: 'machines', summary: 'Create (and start, unless skip_launch) a machine; an Idempotency-Key header makes retries return the first result', body: schemas.createMachine,
      handler: async (c) => {
        const key = c.req.header('idempotency-key')
        return c.json(await pm.create(c.req.param('app') as string, await readJson(c), { owner: owner(c), ...(key !== undefined ? { idempotencyKey: key } : {}) }))
      },
    },
    {
      method: 'get', path: M, access: { action: 'read' }, tag: 'machines', summary: 'Get a machine', query: { include_leases: 'include the lease' },
      handler: (c) => c.json(pm.get(...ids(c), { includeLease: boolQuery(c, 'include_leases') })),
    },
    {
      method: 'post', path: M, access: { action: 'write' }, tag: 'machines', summary: 'Update a machine (replaces the whole config; restarts it)', body: schemas.updateMachine,
      handler: async (c) => c.json(await pm.update(...ids(c), await readJson(c), nonceOf(c), { owner: owner(c) })),
    },
    {
      method: 'delete', path: M, access: { action: 'delete' }, tag: 'machines', summary: 'Destroy a machine', query: { force: 'destroy even if running', kill: 'same as force' },
      handler: async (c) => c.json(await pm.destroy(...ids(c), { force: boolQuery(c, 'force') || boolQuery(c, 'kill') }, nonceOf(c))),
    },
    {
      method: 'post', path: `${M}/start`, access: { action: 'write' }, tag: 'machines', summary: 'Start a machine',
      handler: async (c) => c.json(await pm.start(...ids(c), nonceOf(c))),
    },
    {
      method: 'post', path: `${M}/stop`, access: { action: 'write' }, tag: 'machines', summary: 'Stop a machine', body: schemas.stopMachine,
      handler: async (c) => c.json(await pm.stop(...ids(c), await stopOptions(c), nonceOf(c))),
    },
    {
      method: 'post', path: `${M}/restart`, access: { action: 'write' }, tag: 'machines', summary: 'Restart a machine', query: { signal: 'stop signal', timeout: 'grace period' },
      handler: async (c) => c.json(await pm.restart(...ids(c), await stopOptions(c), nonceOf(c))),
    },
    {
      method: 'post', path: `${M}/signal`, access: { action: 'write' }, tag: 'machines', summary: 'Send a signal to the machine', body: schemas.signalMachine,
      handler: async (c) => c.json(await pm.signal(...ids(c), parse(schemas.signalMachine, await readJson(c), 'signal request').signal, nonceOf(c))),
    },
    {
      method: 'post', path: `${M}/suspend`, access: { action: 'write' }, tag: 'machines', summary: 'Suspend (freeze) a machine',
      handler: async (c) => c.json(await pm.suspend(...ids(c), nonceOf(c))),
    },
    {
      method: 'get', path: `${M}/versions`, access: { action: 'read' }, tag: 'machines', summary: 'List versions',
      handler: (c) => c.json(pm.versions(...ids(c))),
    },
  ]
}
