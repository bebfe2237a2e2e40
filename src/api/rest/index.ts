/**
 * The REST API: Fly Machines API v1 paths and bodies over the platform.
 *   const { app, close } = createRestApp({ platform, logger, version })
 *   serve({ fetch: app.fetch, port: 4280 })
 */
import type { IncomingMessage } from 'node:http'
import { Hono, type Context, type MiddlewareHandler } from 'hono'
import type { Logger } from 'pino'
import type { Caller, Platform } from '../../platform/index.ts'
import { HangarError } from '../../errors.ts'
import { createRegistry, type OwnHosts, type Principal } from '../../images/index.ts'
import { mountMcp } from '../mcp/index.ts'
import { errorBody, onError } from './errors.ts'
import { imageRoutes } from './images.ts'
import { machineOpsRoutes } from './machine-ops.ts'
import { operationRoutes } from './operations.ts'
import { openApiDocument } from './openapi.ts'
import type { RouteDef } from './route.ts'
import { tokenRoutes } from './tokens.ts'
import { tokenizerRoutes } from './tokenizer.ts'
import { secretRoutes } from './secrets.ts'

export interface RestOptions {
  platform: Platform
  logger: Logger
  version: string
  /** The daemon's own addresses: /mcp trusts browser origins only on these names. */
  ownHosts?: OwnHosts
}

type Env = { Variables: { caller: Caller } }

export function restRoutes(platform: Platform): RouteDef[] {
  const owner = (c: Context): string => (c as Context<Env>).get('caller')?.name ?? 'unknown'
  return [
    ...machineOpsRoutes(platform, owner), ...operationRoutes(platform), ...secretRoutes(platform), ...imageRoutes(platform),
    ...tokenRoutes(platform), ...tokenizerRoutes(platform),
  ]
}

/** The caller's address as the socket saw it (undefined for in-process requests: then source caveats refuse). */
function sourceOf(c: Context): string | undefined {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket?.remoteAddress
}

/**
 * A /v2 caller: pulling and pushing both need the `images` action, and a repository belongs to the app
 * its first name component names ("web/api" → web), so an app-scoped token reaches only its apps' names.
 */
function registryPrincipal(platform: Platform, token: string, source: string | undefined): Principal | null {
  let caller: Caller
  try {
    caller = platform.tokens.authenticate(`Bearer ${token}`)
  } catch {
    return null
  }
  return {
    name: caller.name,
    denies(repo) {
      try {
        platform.tokens.authorize(caller, { action: 'images', app: repo.split('/')[0] as string, ...(source !== undefined ? { source } : {}) })
        return null
      } catch (e) {
        return (e as Error).message
      }
    },
  }
}

/** Checks the route's declared needs (action, app and machine from the path) against the caller's caveats. */
function authorize(platform: Platform, r: RouteDef): MiddlewareHandler<Env> {
  return async (c, next) => {
    const app = c.req.param('app')
    const machine = c.req.param('id')
    platform.tokens.authorize(c.get('caller'), {
      action: r.access.action,
      ...(app !== undefined ? { app } : {}), ...(machine !== undefined ? { machine } : {}), ...(r.access.listing ? { listing: r.access.listing } : {}), ...(r.access.about ? { about: r.access.about } : {}),
      ...(sourceOf(c) !== undefined ? { source: sourceOf(c) as string } : {}),
    })
    await next()
  }
}

/** The API's Hono app, and `close` for what outlives a request (MCP sessions, unfinished /v2 uploads). */
export function createRestApp(opts: RestOptions): { app: Hono<Env>; close(): Promise<void> } {
  const app = new Hono<Env>()
  const routes = restRoutes(opts.platform)
  const openapi = openApiDocument(routes, opts.version)
  app.onError(onError(opts.logger))
  app.notFound((c) => c.json(errorBody(new HangarError('route_not_found', `no route for ${c.req.method} ${c.req.path}`)), 404))
  app.get('/v1/openapi.json', (c) => c.json(openapi))
  app.get('/healthz', (c) => c.json({ ok: true }))
  // MCP shares the port and the tokens; it checks them itself (it is not under /v1).
  const mcp = mountMcp(app, opts.platform, { logger: opts.logger, version: opts.version, ...(opts.ownHosts ? { ownHosts: opts.ownHosts } : {}) })
  // The OCI registry speaks its own protocol and errors, and takes the same tokens (Bearer, or Basic with the token as password).
  const verifyToken = (t: string, source?: string): Principal | null => registryPrincipal(opts.platform, t, source)
  const registry = createRegistry({ store: opts.platform.images.store, verifyToken })
  app.route('/v2', registry.app)
  app.use('/v1/*', async (c, next) => {
    // On a machine's API socket the caller is that machine (machine-api.ts); elsewhere, the token.
    const machine = (c.env as { machineCaller?: Caller } | undefined)?.machineCaller
    c.set('caller', machine ?? opts.platform.tokens.authenticate(c.req.header('authorization')))
    await next()
  })
  for (const r of routes) app.on(r.method.toUpperCase(), r.path, authorize(opts.platform, r), r.handler)
  return {
    app,
    async close() {
      await Promise.all([mcp.close(), registry.close()])
    },
  }
}
