/** /v1/apps/{app}/machines/{id}/…: leases, metadata and logs, not yet declared operations (src/ops). */
import type { Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import type { Platform } from '../../platform/index.ts'
import { schemas } from '../../platform/index.ts'
import { HangarError } from '../../errors.ts'
import { nonceOf, readJson, readObject, type RouteDef } from './route.ts'

const M = '/v1/apps/:app/machines/:id'
const ids = (c: Context): [string, string] => [c.req.param('app') as string, c.req.param('id') as string]

function intQuery(c: Context, name: string): number | undefined {
  const v = c.req.query(name)
  if (v === undefined || v === '') return undefined
  const n = Number(v.replace(/s$/, ''))
  if (!Number.isInteger(n)) throw new HangarError('invalid_argument', `${name} must be an integer, got "${v}"`)
  return n
}

export function machineOpsRoutes(platform: Platform, owner: (c: Context) => string): RouteDef[] {
  const pm = platform.machines
  return [
    {
      method: 'get', path: `${M}/lease`, access: { action: 'read' }, tag: 'leases', summary: 'Get the lease',
      handler: (c) => c.json({ status: 'success', data: pm.getLease(...ids(c)) }),
    },
    {
      method: 'post', path: `${M}/lease`, access: { action: 'write' }, tag: 'leases', summary: 'Acquire or refresh (with the nonce header) a lease', body: schemas.acquireLease, status: 201,
      query: { ttl: 'seconds' },
      handler: async (c) => {
        const body = await readObject(c)
        const ttl = intQuery(c, 'ttl')
        const lease = pm.acquireLease(...ids(c), { ...(ttl ? { ttl } : {}), ...body }, { owner: owner(c), ...nonceOf(c) })
        return c.json({ status: 'success', data: lease }, 201)
      },
    },
    {
      method: 'delete', path: `${M}/lease`, access: { action: 'write' }, tag: 'leases', summary: 'Release the lease (needs the nonce header)',
      handler: (c) => {
        pm.releaseLease(...ids(c), nonceOf(c).nonce)
        return c.json({ status: 'success', data: { ok: true } })
      },
    },
    {
      method: 'get', path: `${M}/metadata`, access: { action: 'read' }, tag: 'metadata', summary: 'Get all metadata',
      handler: (c) => c.json(pm.metadata(...ids(c))),
    },
    ...(['put', 'patch'] as const).map((method): RouteDef => ({
      method, path: `${M}/metadata`, access: { action: 'write' }, tag: 'metadata', summary: 'Set metadata keys; empty or null deletes; a stale machine_version is a 412', status: 204, body: schemas.patchMetadata,
      handler: async (c) => {
        pm.patchMetadata(...ids(c), await readObject(c))
        return c.body(null, 204)
      },
    })),
    {
      method: 'get', path: `${M}/metadata/:key`, access: { action: 'read' }, tag: 'metadata', summary: 'Get one metadata key',
      handler: (c) => c.json(pm.getMetadataKey(...ids(c), c.req.param('key') as string)),
    },
    {
      method: 'post', path: `${M}/metadata/:key`, access: { action: 'write' }, tag: 'metadata', summary: 'Set one metadata key', status: 204,
      handler: async (c) => {
        const body = await readObject(c)
        if (typeof body.value !== 'string') throw new HangarError('invalid_argument', 'body must be {"value": "<string>"}')
        pm.setMetadataKey(...ids(c), c.req.param('key') as string, body.value)
        return c.body(null, 204)
      },
    },
    {
      method: 'delete', path: `${M}/metadata/:key`, access: { action: 'write' }, tag: 'metadata', summary: 'Delete one metadata key', status: 204,
      handler: (c) => {
        pm.deleteMetadataKey(...ids(c), c.req.param('key') as string)
        return c.body(null, 204)
      },
    },
    {
      method: 'get', path: `${M}/logs`, access: { action: 'read' }, tag: 'machines', summary: "The machine's stdout/stderr with timestamps; follow=true streams Server-Sent Events",
      query: { tail: 'lines from the end (default 100, max 10000)', follow: 'keep the stream open (SSE)' },
      handler: async (c) => {
        const tail = intQuery(c, 'tail') ?? 100
        if (tail < 0 || tail > 10_000) throw new HangarError('out_of_range', `tail must be 0–10000, got ${tail}`)
        const follow = c.req.query('follow') === 'true' || c.req.query('follow') === '1'
        const lines = pm.logs(...ids(c), { tail, follow, signal: c.req.raw.signal })
        if (!follow) {
          const out = []
          for await (const l of lines) out.push(l)
          return c.json({ lines: out })
        }
        return streamSSE(c, async (stream) => {
          // A comment every 30 s keeps a quiet machine's stream from hitting clients' idle timeouts.
          const keepalive = setInterval(() => void stream.write(': keepalive\n\n').catch(() => {}), 30_000)
          try {
            for await (const l of lines) await stream.writeSSE({ event: 'log', data: JSON.stringify(l) })
          } finally {
            clearInterval(keepalive)
          }
        })
      },
    },
  ]
}
