/**
 * Hangar's OCI Distribution registry (/v2) over the local image store: what
 * skopeo, buildah or docker push lands in the store as a runnable image, and
 * every stored image can be pulled. Auth is the Hangar API token (auth.ts).
 *
 *   const registry = createRegistry({ store: images, verifyToken: (t, source) => principalOf(t, source) })
 *   app.route('/v2', registry.app)   // before any /v1 middleware
 *   await registry.close()           // on shutdown: drops unfinished uploads
 */
import type { IncomingMessage } from 'node:http'
import { Hono, type Context } from 'hono'
import type { ImageStore } from '../types.ts'
import { RegistryAuth, type Principal, type VerifyToken } from './auth.ts'
import { deleteBlob, readBlob } from './blobs.ts'
import { errorResponse, RegistryError } from './errors.ts'
import { deleteManifest, putManifest, readManifest } from './manifests.ts'
import { parseRoute, type Body, type RegistryCtx, type Route } from './paths.ts'
import { catalog, listTags } from './tags.ts'
import { cancelUpload, finishUpload, patchUpload, startUpload, uploadStatus, Uploads } from './uploads.ts'

export type { Principal, VerifyToken } from './auth.ts'
export { RegistryError } from './errors.ts'

export interface RegistryOptions {
  store: Pick<ImageStore, 'content' | 'tags'>
  verifyToken: VerifyToken
}

export interface Registry {
  /** A Hono app to mount at /v2. */
  app: Hono
  close(): Promise<void>
}

export function createRegistry(opts: RegistryOptions): Registry {
  const ctx: RegistryCtx = { content: opts.store.content, tags: opts.store.tags, uploads: new Uploads(opts.store.content) }
  const auth = new RegistryAuth(opts.verifyToken)
  const app = new Hono()
  const handle = async (c: Context): Promise<Response> => {
    const res = await dispatch(c, ctx, auth).catch((e: unknown) => errorResponse(e, c.req.method))
    res.headers.set('docker-distribution-api-version', 'registry/2.0')
    return res
  }
  app.all('/', handle)
  app.all('/*', handle)
  return { app, close: () => ctx.uploads.close() }
}

async function dispatch(c: Context, ctx: RegistryCtx, auth: RegistryAuth): Promise<Response> {
  const route = parseRoute(c.req.path)
  const method = c.req.method
  if (route?.kind === 'token') {
    if (method !== 'GET' && method !== 'POST') throw unsupported(method, c.req.path)
    return auth.token(c)
  }
  const who = auth.check(c, route && 'name' in route ? `repository:${route.name}:${method === 'GET' || method === 'HEAD' ? 'pull' : 'pull,push'}` : undefined)
  if (!route) throw new RegistryError('UNSUPPORTED', `no /v2 endpoint at ${method} ${c.req.path}`, null, { status: 404 })
  // Per repository: reading is a pull, anything else a push; mounting a blob from another repository pulls from it too.
  if ('name' in route) {
    allow(who, route.name, method === 'GET' || method === 'HEAD' ? 'pull' : 'push')
    const from = route.kind === 'uploads' ? c.req.query('from') : undefined
    if (from !== undefined && c.req.query('mount') !== undefined) allow(who, from, 'pull')
  }
  const q = (k: string): string | undefined => c.req.query(k)
  const body = bodyOf(c)
  const h = (k: string): string | undefined => c.req.header(k)
  const read = method === 'GET' || method === 'HEAD'
  switch (route.kind) {
    case 'base':
      if (read) return Response.json({})
      break
    case 'catalog':
      if (method === 'GET') return catalog(ctx, { n: q('n'), last: q('last') }, (repo) => who.denies(repo, 'pull') === null)
      break
    case 'tags':
      if (method === 'GET') return listTags(ctx, route.name, { n: q('n'), last: q('last') })
      break
    case 'manifest':
      if (read) return readManifest(ctx, method, route.name, route.ref, h('accept'))
      // Under the store lock: the blobs it checks for must still be there when its tag lands.
      if (method === 'PUT') return ctx.content.lock.shared(() => putManifest(ctx, route.name, route.ref, h('content-type'), body))
      if (method === 'DELETE') return deleteManifest(ctx, route.name, route.ref)
      break
    case 'blob':
      if (read) return readBlob(ctx, method, route.digest, h('range'))
      if (method === 'DELETE') return deleteBlob(ctx, route.digest)
      break
    case 'uploads':
      return upload(c, ctx, route, body)
  }
  throw unsupported(method, c.req.path)
}

function upload(c: Context, ctx: RegistryCtx, route: Extract<Route, { kind: 'uploads' }>, body: Body): Promise<Response> | Response {
  const { name, id } = route
  const method = c.req.method
  if (id === '') {
    if (method === 'POST') return startUpload(ctx, name, { digest: c.req.query('digest'), mount: c.req.query('mount'), from: c.req.query('from') }, body)
    throw unsupported(method, c.req.path)
  }
  if (method === 'GET') return uploadStatus(ctx, name, id)
  if (method === 'PATCH') return patchUpload(ctx, name, id, c.req.header('content-range'), body)
  if (method === 'PUT') return finishUpload(ctx, name, id, c.req.query('digest'), c.req.header('content-range'), body)
  if (method === 'DELETE') return cancelUpload(ctx, name, id)
  throw unsupported(method, c.req.path)
}

/**
 * The request body. Under @hono/node-server that is Node's own request stream, read directly: going
 * through the web ReadableStream Hono would make of it costs a large share of upload throughput.
 */
function bodyOf(c: Context): Body {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming
  if (incoming && typeof incoming.pipe === 'function') return incoming
  return c.req.raw.body as Body
}

/** Throws DENIED (403) with the token's reason unless it may do `access` on `repo`. */
function allow(who: Principal, repo: string, access: 'pull' | 'push'): void {
  const why = who.denies(repo, access)
  if (why !== null) throw new RegistryError('DENIED', `${access} of ${repo} denied: ${why}`, { name: repo, access })
}

function unsupported(method: string, path: string): RegistryError {
  return new RegistryError('UNSUPPORTED', `${method} is not supported on ${path}`, { method }, { status: 405 })
}
