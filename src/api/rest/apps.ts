/** /v1/apps: list, create, get, delete. */
import type { Platform } from '../../platform/index.ts'
import { networkPolicySchema, schemas } from '../../platform/index.ts'
import { boolQuery, callerOf, readJson, type RouteDef } from './route.ts'

export function appRoutes(platform: Platform): RouteDef[] {
  return [
    {
      method: 'get', path: '/v1/apps', access: { action: 'read', listing: 'apps' }, tag: 'apps', summary: 'List apps',
      query: { org_slug: 'only apps of this organization' },
      handler: (c) => {
        // A token limited to some apps sees only those.
        const caller = callerOf(c)
        const apps = platform.apps.list(c.req.query('org_slug')).apps.filter((a) => platform.tokens.mayReachApp(caller, a.name))
        return c.json({ total_apps: apps.length, apps })
      },
    },
    {
      method: 'post', path: '/v1/apps', access: { action: 'create' }, tag: 'apps', summary: 'Create an app (an Idempotency-Key header makes retries return the first result)', body: schemas.createApp, status: 201,
      handler: async (c) => {
        const key = c.req.header('idempotency-key')
        return c.json(await platform.apps.create(await readJson(c), key !== undefined ? { idempotencyKey: key } : {}), 201)
      },
    },
    {
      method: 'get', path: '/v1/apps/:app', access: { action: 'read' }, tag: 'apps', summary: 'Get an app',
      handler: (c) => c.json(platform.apps.get(c.req.param('app') as string)),
    },
    {
      method: 'get', path: '/v1/apps/:app/policy/network', access: { action: 'read' }, tag: 'apps', summary: 'Get the app\'s egress policy (Sprites\' network-policy shape; an empty list means the defaults)',
      handler: (c) => c.json(platform.networkPolicy.get(c.req.param('app') as string)),
    },
    {
      method: 'post', path: '/v1/apps/:app/policy/network', access: { action: 'write' }, tag: 'apps', body: networkPolicySchema,
      summary: 'Replace the app\'s egress policy: ordered {cidr|domain, action: allow|deny} rules, first match wins, then the defaults (internet allowed; private, link-local and loopback ranges refused). Domain rules judge DNS names; an allowed name\'s addresses are reachable ahead of the CIDR rules',
      handler: async (c) => c.json(await platform.networkPolicy.set(c.req.param('app') as string, await readJson(c))),
    },
    {
      method: 'delete', path: '/v1/apps/:app', access: { action: 'delete' }, tag: 'apps', summary: 'Delete an app and its machines', status: 202,
      query: { force: 'stop running machines first' },
      handler: async (c) => {
        await platform.apps.destroy(c.req.param('app') as string, { force: boolQuery(c, 'force') })
        return c.body(null, 202)
      },
    },
  ]
}
