/**
 * `concurrency.type: "connections"` (Fly's default): a client connection — an
 * HTTP/1.1 socket (plain or TLS) or an h2 session — is bound to the machine
 * its first request is routed to, and holds one slot of that machine's load
 * until the client closes it, released exactly once. Later requests on it go
 * to the same machine without being balanced or counted again. If the machine
 * leaves 'started' (stopped, restarted, destroyed) its slots are released at
 * once (RouteTable.apply) and the connection's next request binds it anew.
 *
 * The map is keyed by the connection object, then by app: a connection that
 * carries several apps' hosts (a CDN's or nginx's pooled upstream connection, an
 * h2 connection coalesced across names) holds one binding per app, so a request
 * never follows another app's binding. It is only consulted for apps whose
 * service says "connections" (target.ts): type=requests apps never touch it.
 */
import type { EventEmitter } from 'node:events'
import type { IncomingMessage } from 'node:http'
import type { Http2ServerRequest } from 'node:http2'
import type { Route, RouteTable } from './route-table.ts'

/** The client connection a request came on. */
export type ClientConn = EventEmitter & { readonly destroyed: boolean }

/** The socket (HTTP/1.1, upgrades included) or the h2 session a request arrived on. */
export function connectionOf(req: IncomingMessage | Http2ServerRequest): ClientConn | undefined {
  return req.httpVersionMajor === 1 ? (req as IncomingMessage).socket : (req as Http2ServerRequest).stream.session
}

/** One client connection's binding. */
export interface Binding {
  readonly conn: ClientConn
  readonly app: string
  /** The machine holding the connection's slot; null while unbound. */
  route: Route | null
  /** `route.epoch` when the slot was taken: a machine that left 'started' since has released it already. */
  epoch: number
  /**
   * Set while an unbound connection's request is being routed asynchronously
   * (its machine waking, or queued past hard_limit): the connection's other
   * requests (h2 streams, pipelined HTTP/1.1) wait for it rather than take slots of their own.
   */
  pending: Promise<void> | null
}

export class Connections {
  readonly #bindings = new WeakMap<ClientConn, Map<string, Binding>>()
  readonly #routes: RouteTable

  constructor(routes: RouteTable) {
    this.#routes = routes
  }

  /** The connection's binding for `app`, made on first sight; the connection's first also gets the listener that releases its slots on close. */
  of(conn: ClientConn, app: string): Binding {
    let apps = this.#bindings.get(conn)
    if (!apps) {
      const made = new Map<string, Binding>()
      this.#bindings.set(conn, made)
      conn.once('close', () => {
        for (const b of made.values()) this.#unbind(b)
      })
      apps = made
    }
    let b = apps.get(app)
    if (!b) apps.set(app, (b = { conn, app, route: null, epoch: 0, pending: null }))
    return b
  }

  /** The machine the connection is bound to, if it can still take requests; a binding to one that went away is dropped (its slot released, once). */
  current(b: Binding): Route | null {
    const r = b.route
    if (r === null) return null
    if (r.epoch === b.epoch && r.state === 'started' && !r.draining && r.host !== null) return r
    this.#unbind(b)
    return null
  }

  /**
   * `r` was routed (and counted) for a request on the unbound connection `b`:
   * that count becomes the connection's slot. False when it stays an ordinary
   * request count, released when the request ends: the connection is already
   * bound or gone, or `r`'s own service counts requests.
   */
  bind(b: Binding, r: Route): boolean {
    if (b.route !== null || b.conn.destroyed || r.app !== b.app || r.service.type !== 'connections') return false
    b.route = r
    b.epoch = this.#routes.hold(r)
    return true
  }

  #unbind(b: Binding): void {
    const r = b.route
    if (r === null) return
    b.route = null
    this.#routes.unhold(r, b.epoch)
  }
}
