/**
 * The REST API: Fly Machines API v1 paths and bodies over the platform.
 *   const { app, close } = createRestApp({ platform, logger, version })
 *   serve({ fetch: app.fetch, port: 4280 })
 */
import { Hono, type Context } from 'hono'
import type { Logger } from 'pino'
import type { Platform } from '../../platform/index.ts'
import { HangarError } from '../../errors.ts'
import { createRegistry, type OwnHosts } from '../../images/index.ts'
import { mountMcp } from '../mcp/index.ts'
import { appRoutes } from './apps.ts'
import { errorBody, onError } from './errors.ts'
import { fileRoutes } from './files.ts'
import { imageRoutes } from './images.ts'
import { machineOpsRoutes } from './machine-ops.ts'
import { checkpointRoutes } from './checkpoints.ts'
import { volumeRoutes } from './volumes.ts'
import { machineRoutes } from './machines.ts'
import { openApiDocument } from './openapi.ts'
import type { RouteDef } from './route.ts'

export interface RestOptions {
  platform: Platform
  logger: Logger
  version: string
  /** The daemon's own addresses: /mcp trusts browser origins only on these names. */
  ownHosts?: OwnHosts
}

type Env = { Variables: { tokenName: string } }

export function restRoutes(platform: Platform): RouteDef[] {
  const owner = (c: Context): string => (c as Context<Env>).get('tokenName') ?? 'unknown'
  return [...appRoutes(platform), ...machineRoutes(platform, owner), ...machineOpsRoutes(platform, owner), ...checkpointRoutes(platform), ...volumeRoutes(platform), ...fileRoutes(platform), ...imageRoutes(platform)]
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
  const verifyToken = (t: string): string | null => opts.platform.tokens.verify(`Bearer ${t}`)?.name ?? null
  const registry = createRegistry({ store: opts.platform.images.store, verifyToken })
  app.route('/v2', registry.app)
  app.use('/v1/*', async (c, next) => {
    const token = opts.platform.tokens.verify(c.req.header('authorization'))
    if (!token) throw new HangarError('unauthenticated', 'Authenticate: token validation error')
    c.set('tokenName', token.name)
    await next()
  })
  for (const r of routes) app.on(r.method.toUpperCase(), r.path, r.handler)
  return {
    app,
    async close() {
      await Promise.all([mcp.close(), registry.close()])
    },
  }
}
