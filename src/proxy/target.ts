/**
 * Which machine a request goes to: the app from the Host header, then, in
 * order, fly-force-instance-id, fly-prefer-instance-id, Mcp-Session-Id affinity, the sticky cookie, or
 * the balancer; a sleeping machine is woken first. The machine returned is
 * already counted in the machine's load: the caller releases it exactly once,
 * unless `keys.held` says the client connection holds it (type connections).
 */
import type { IncomingMessage } from 'node:http'
import type { Http2ServerRequest } from 'node:http2'
import { choose, healthy, pinned, type Choice } from './balance.ts'
import { connectionOf, type Binding, type Connections } from './connections.ts'
import { RouteError, type ProxyPlatform, type Route, type RouteTable } from './route-table.ts'
import type { Queues } from './queue.ts'
import type { Waker } from './wake.ts'
import type { ReplayCache } from './replay-cache.ts'

/** Session → machine, for MCP servers that keep session state in memory. Bounded; oldest forgotten first. */
export class Sessions {
  readonly #map = new Map<string, string>()
  readonly #max: number

  constructor(max = 10_000) {
    this.#max = max
  }

  remember(session: string, machine: string): void {
    this.#map.delete(session)
    this.#map.set(session, machine)
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value as string)
  }

  get(session: string): string | undefined {
    return this.#map.get(session)
  }

  forget(session: string): void {
    this.#map.delete(session)
  }
}

export interface TargetDeps {
  routes: RouteTable
  waker: Waker
  sessions: Sessions
  /** Requests waiting past every hard limit. */
  queues: Queues
  /** Client connections bound to machines (concurrency.type connections). */
  conns: Connections
  platform: ProxyPlatform
  domain: string
  /** Custom hostnames (lowercase, no port) → app. */
  hostnames: ReadonlyMap<string, string>
  /** fly-replay-cache entries: requests that skip their app and go straight to where it replays them. */
  replayCache: ReplayCache
}

/** `myapp.localhost:4281` → `myapp`; null when the host is not a single label under the domain. */
export function appFromHost(host: string | undefined, domain: string): string | null {
  if (!host) return null
  const colon = host.lastIndexOf(':')
  // Strip a port (not an IPv6 literal's last group: those end in ']' before the port).
  const name = (colon > 0 && host.indexOf(']') < colon ? host.slice(0, colon) : host).toLowerCase()
  const suffix = `.${domain}`
  if (!name.endsWith(suffix)) return null
  const app = name.slice(0, -suffix.length)
  return /^[a-z0-9][a-z0-9-]{0,62}$/.test(app) ? app : null
}

// Host header → app, per proxy: the mapping never changes while a proxy runs. Bounded, and started
// afresh when full, so a client sending a new Host with every request only costs itself the lookup.
const appsByHost = new WeakMap<object, Map<string, string | null>>()
const HOSTS_REMEMBERED = 4096

/** The app a Host (or SNI name) leads to: a custom hostname first, then `<app>.<domain>`. */
export function appForHost(d: { domain: string; hostnames: ReadonlyMap<string, string> }, host: string | undefined): string | null {
  if (!host) return null
  let known = appsByHost.get(d)
  if (!known) appsByHost.set(d, (known = new Map()))
  let app = known.get(host)
  if (app !== undefined) return app
  app = hostToApp(d, host)
  // Only names a DNS name could be: a Host header may be kilobytes long, and 4096 of those add up.
  if (host.length <= 261) {
    if (known.size >= HOSTS_REMEMBERED) known.clear()
    known.set(host, app)
  }
  return app
}

function hostToApp(d: { domain: string; hostnames: ReadonlyMap<string, string> }, host: string): string | null {
  if (d.hostnames.size) {
    const colon = host.lastIndexOf(':')
    const name = (colon > 0 && host.indexOf(']') < colon ? host.slice(0, colon) : host).toLowerCase()
    const app = d.hostnames.get(name)
    if (app) return app
  }
  return appFromHost(host, d.domain)
}

/** The app's machines; a RouteError saying why when there are none. */
export function appRoutes(d: TargetDeps, app: string): readonly Route[] {
  const routes = d.routes.app(app)
  if (routes) return routes
  // A miss is the only time the store is asked, and only to tell "no such app" from "no machines".
  let exists = true
  try {
    d.platform.apps.get(app)
  } catch {
    exists = false
  }
  if (!exists) throw new RouteError(404, `no app named ${app}`)
  throw new RouteError(503, `app ${app} has no machines; create one (hangar machine run --app ${app} …) and it will be served here`)
}

/** What routing reads from a request (see headers.ts scanRequest). */
export interface RouteKeys {
  id?: string
  host: string | undefined
  forced: string | undefined
  /** More than one Host header (headers.ts Scanned.twoHosts): refused with a 400 before anything routes on either. */
  twoHosts?: boolean
  /** `fly-prefer-instance-id`; when that machine cannot take the request, routing sets `preferMissed` to it. */
  prefer?: string | undefined
  preferMissed?: string
  session: string | undefined
  cookie: string | undefined
  /** Set by target(): the machine returned is the client connection's slot, not a count the request must release. */
  held?: boolean
  /** Set by target(): what emits 'close' when the client leaves (its socket, or its h2 stream), so a queued request can leave the queue. */
  client?: Leaving | undefined
}

/** The one event a queued request listens for on its client. */
export interface Leaving {
  readonly destroyed: boolean
  once(event: 'close', f: () => void): unknown
  off(event: 'close', f: () => void): unknown
}

/** What emits 'close' when a request's client leaves: its socket (HTTP/1.1, upgrades) or its h2 stream. */
export function clientOf(req: IncomingMessage | Http2ServerRequest): Leaving {
  return req.httpVersionMajor === 2 ? (req as Http2ServerRequest).stream : req.socket
}

/** The Set-Cookie value that pins a client to `route` (http_options.sticky_cookie), if the service asks for one. */
export function stickyCookie(route: Route): string | undefined {
  const name = route.service.stickyCookie
  return name ? `${name}=${route.id}; Path=/; HttpOnly; SameSite=Lax` : undefined
}

/** The value of cookie `name` in a Cookie header. */
function cookieValue(header: string, name: string): string | undefined {
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

/**
 * The machine for a request: synchronous when no machine must be woken, so the
 * common path awaits nothing. `req` (the front's request) lets a connections-type
 * app bind the client connection; `keys.held` is then set when the route is the
 * connection's slot (the caller must not release it).
 */
export function target(d: TargetDeps, keys: RouteKeys, req?: IncomingMessage | Http2ServerRequest): Route | Promise<Route> {
  if (keys.twoHosts) throw new RouteError(400, 'the request has more than one Host header; send one')
  const app = appForHost(d, keys.host)
  if (!app) throw new RouteError(404, `no app at host ${JSON.stringify(keys.host ?? '')}; apps are served at <app>.${d.domain}${d.hostnames.size ? ' and at the hostnames given with --proxy-hostname' : ''}`)
  const routes = appRoutes(d, app)
  if (req !== undefined) keys.client = clientOf(req)
  // concurrency.type connections: the client connection holds the slot. As for the sticky cookie, the app's first machine decides.
  if (req !== undefined && (routes[0] as Route).service.type === 'connections') {
    const conn = connectionOf(req)
    if (conn) return onConnection(d, app, routes, keys, d.conns.of(conn, app))
  }
  const p = named(d, app, routes, keys)
  if (p) return settle(d, pinned(p), { app, attempt: () => pinned(p), requestId: keys.id, client: keys.client })
  return balanced(d, app, routes, keys)
}

/** The balancer's machine, counted; queued past every hard limit. */
function balanced(d: TargetDeps, app: string, routes: readonly Route[], keys: RouteKeys): Route | Promise<Route> {
  const c = choose(app, routes)
  // The common case, a started machine with room: nothing to wake or queue, so no retry closure is built.
  if (c.kind === 'route') {
    d.routes.acquire(c.route)
    return c.route
  }
  return settle(d, c, { app, attempt: () => choose(app, d.routes.app(app) ?? []), requestId: keys.id, client: keys.client })
}

/** The machine the request names: fly-force-instance-id, else fly-prefer-instance-id (if it can take it), else its Mcp-Session-Id's, else the sticky cookie's; undefined to balance. */
function named(d: TargetDeps, app: string, routes: readonly Route[], keys: RouteKeys): Route | undefined {
  const forced = keys.forced
  if (forced) {
    const r = d.routes.machine(forced)
    if (!r || r.app !== app) throw new RouteError(503, `fly-force-instance-id: ${forced} is not a machine of app ${app}`)
    return r
  }
  const prefer = keys.prefer
  if (prefer) {
    const r = d.routes.machine(prefer)
    // Taken if it can serve now or be woken; missing, busy, failing its checks or not startable, the request goes elsewhere and says so.
    const kind = r && r.app === app && healthy(r) ? pinned(r).kind : 'unavailable'
    if (r && (kind === 'route' || kind === 'wake')) return r
    keys.preferMissed = prefer
  }
  const session = keys.session
  if (session !== undefined) {
    const id = d.sessions.get(session)
    const r = id ? d.routes.machine(id) : undefined
    if (r && r.app === app) return r
    // The machine is gone: the session went with it; let the server say so.
    if (id) d.sessions.forget(session)
  }
  // http_options.sticky_cookie: the cookie names the machine that answered this client before.
  const sticky = keys.cookie !== undefined ? routes[0]?.service.stickyCookie : null
  if (sticky) {
    const id = cookieValue(keys.cookie as string, sticky)
    const r = id ? d.routes.machine(id) : undefined
    // A cookie naming a machine that is gone (or of another app) is ignored: the answer sets a fresh one.
    if (r && r.app === app) return r
  }
  return undefined
}

/**
 * A request on a client connection of a connections-type app. Bound and not
 * named elsewhere: the bound machine, not counted again. Named elsewhere
 * (forced, session, cookie) on a bound connection: that machine, counted as a
 * request for its duration; the binding stays. Unbound: routed as any request
 * (named or balanced), and that count becomes the connection's slot.
 */
function onConnection(d: TargetDeps, app: string, routes: readonly Route[], keys: RouteKeys, b: Binding): Route | Promise<Route> {
  // The connection's first request is still being routed (waking, queued): follow it rather than take a second slot.
  if (b.pending) return b.pending.then(() => onConnection(d, app, appRoutes(d, app), keys, b))
  const bound = d.conns.current(b)
  const p = named(d, app, routes, keys)
  if (bound && (!p || p === bound)) {
    keys.held = true
    return bound
  }
  if (p && bound) return settle(d, pinned(p), { app, attempt: () => pinned(p), requestId: keys.id, client: keys.client })
  const r = p ? settle(d, pinned(p), { app, attempt: () => pinned(p), requestId: keys.id, client: keys.client }) : balanced(d, app, routes, keys)
  if (!(r instanceof Promise)) {
    keys.held = d.conns.bind(b, r)
    return r
  }
  const bound2 = r.then((route) => {
    keys.held = d.conns.bind(b, route)
    return route
  })
  const clear = (): void => {
    b.pending = null
  }
  b.pending = bound2.then(clear, clear)
  return bound2
}

/** What a routed request or connection counts against: the HTTP service (the route table itself) or one raw TCP service. */
export interface Counter {
  acquire(r: Route): void
  release(r: Route): void
}

/**
 * Counts the request against the chosen machine and wakes it if needed. A
 * 'full' choice waits in the app's queue when `again` says how to ask the
 * balancer once a slot frees (else it is a 503 at once).
 */
export function settle(d: Pick<TargetDeps, 'routes' | 'waker' | 'queues'>, choice: Choice, again?: { app: string; attempt: () => Choice; requestId?: string | undefined; client?: Leaving | undefined }, counter: Counter = d.routes): Route | Promise<Route> {
  if (choice.kind === 'unavailable') throw new RouteError(503, choice.reason)
  if (choice.kind === 'full') {
    if (!again) throw new RouteError(503, choice.reason, { busy: true })
    const client = again.client
    if (client?.destroyed) throw new RouteError(499, `the client closed the connection before its request could be queued for app ${again.app}`)
    return new Promise<Route>((resolve, reject) => {
      // A client that hangs up while queued gives its place back at once, not when a slot would have freed.
      const left = (): void => {
        leave()
        reject(new RouteError(499, `the client closed the connection while its request was queued for app ${again.app}`))
      }
      const deliver = (c: Choice): void => {
        client?.off('close', left)
        try {
          resolve(settle(d, c, undefined, counter))
        } catch (e) {
          reject(e as Error)
        }
      }
      const leave = d.queues.wait(again.app, choice.reason, again.attempt, deliver, (e) => {
        client?.off('close', left)
        reject(e)
      })
      client?.once('close', left)
    })
  }
  const r = choice.route
  counter.acquire(r)
  if (choice.kind === 'route') return r
  return d.waker.wake(r, again?.requestId).then(
    () => r,
    (e: unknown) => {
      counter.release(r)
      throw e
    },
  )
}
