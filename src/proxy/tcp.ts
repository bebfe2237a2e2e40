/**
 * Raw TCP services: a service whose `ports[]` have no handlers is served by
 * listening on each `ports[].port` on the proxy's host and piping bytes to
 * `<private_ip>:<internal_port>` of one of the app's machines — least open
 * connections first, a stopped one autostarted when none runs (or all are at
 * hard_limit). A port is only taken if it is free; the listeners follow the
 * route table as machines come, go and change config. Only ports in the operator's ranges are
 * ever taken (the platform refuses configs naming others; this covers machines made before a
 * range was narrowed).
 */
import { createServer, connect, type Server, type Socket } from 'node:net'
import type { Logger } from 'pino'
import { leastLoaded, wakeable, type Choice } from './balance.ts'
import type { Queues } from './queue.ts'
import { settle } from './target.ts'
import { RouteError, type Route, type RouteTable, type TcpService } from './route-table.ts'
import { waitForPort, type Waker } from './wake.ts'
import { formatPortRanges, portAllowed, type PortRange } from '../lib/port-ranges.ts'

/**
 * The balancer for a TCP port: the least-loaded started machine under its TCP
 * service's hard_limit, else one to wake (the TCP service's own autostart), else
 * 'full' (wait in the queue) or 'unavailable' (refused).
 */
function tcpChoice(all: readonly Route[], app: string, port: number): Choice {
  const routes = all.filter((r) => serviceOn(r, port))
  if (routes.length === 0) return { kind: 'unavailable', reason: `no machine of app ${app} serves TCP port ${port}` }
  const up = (r: Route): boolean => r.state === 'started' && !r.draining && r.host !== null
  // Each TCP service counts its own connections, on all its ports (Route.tcpOpen), apart from the machine's HTTP load.
  const open = (r: Route): number => r.tcpOpen.get(serviceKey(r, port)) ?? 0
  const under = leastLoaded(routes, (r) => up(r) && open(r) < (serviceOn(r, port) as TcpService).hardLimit, undefined, open)
  if (under) return { kind: 'route', route: under }
  // wakeable() reads the HTTP service's autostart; the TCP service's own flag decides here.
  const sleeper = wakeable(routes.filter((x) => serviceOn(x, port)?.autostart))
  if (sleeper) return { kind: 'wake', route: sleeper }
  if (routes.some(up)) return { kind: 'full', reason: `every started machine of app ${app} is at its hard_limit for TCP port ${port}` }
  return { kind: 'unavailable', reason: `no machine of app ${app} can take a connection on port ${port} (all stopped without autostart)` }
}

interface Listener {
  app: string
  server: Server
  /** Bound (false while listen() is under way or after it failed). */
  bound: boolean
}

/** The TCP service of `r` exposed on external port `port`, if any. */
function serviceOn(r: Route, port: number): TcpService | undefined {
  return r.tcp?.find((s) => s.ports.includes(port))
}

/** What a TCP service's connections are counted under in Route.tcpOpen: its first external port (a port belongs to one service). */
function serviceKey(r: Route, port: number): number {
  return serviceOn(r, port)?.ports[0] ?? port
}

export interface TcpOptions {
  routes: RouteTable
  waker: Waker
  queues: Queues
  logger: Logger
  host: string
  wakeTimeoutMs: number
  /** The host ports services may take (--tcp-ports). */
  allowed: readonly PortRange[]
}

export class TcpListeners {
  readonly #o: TcpOptions
  readonly #listeners = new Map<number, Listener>()
  /** Ports that were busy, with when: tried again at most every 30 s. */
  readonly #busy = new Map<number, number>()
  readonly #conflicts = new Set<string>()
  readonly #sockets = new Set<Socket>()
  #running = false

  constructor(o: TcpOptions) {
    this.#o = o
  }

  /** Starts following the route table. */
  start(): void {
    this.#running = true
    this.sync()
  }

  /** Opens listeners for ports some machine declares and closes those nobody declares any more. */
  sync(): void {
    if (!this.#running) return
    const want = new Map<number, string>()
    for (const r of this.#o.routes.all()) {
      for (const s of r.tcp ?? []) {
        for (const port of s.ports) {
          if (!portAllowed(this.#o.allowed, port)) {
            if (!this.#conflicts.has(`${port}/${r.app}`)) {
              this.#conflicts.add(`${port}/${r.app}`)
              this.#o.logger.warn({ port, app: r.app, allowed: formatPortRanges(this.#o.allowed) }, 'proxy: TCP port outside the allowed ranges (--tcp-ports); not served')
            }
            continue
          }
          const owner = want.get(port)
          if (owner === undefined) want.set(port, r.app)
          else if (owner !== r.app && !this.#conflicts.has(`${port}/${r.app}`)) {
            this.#conflicts.add(`${port}/${r.app}`)
            this.#o.logger.warn({ port, app: r.app, owner }, 'proxy: TCP port already claimed by another app; not served for this one')
          }
        }
      }
    }
    for (const [port, l] of this.#listeners) {
      if (want.get(port) !== l.app) {
        this.#listeners.delete(port)
        l.server.close()
        this.#o.logger.info({ port, app: l.app }, 'proxy: TCP listener closed')
      }
    }
    for (const [port, app] of want) {
      if (this.#listeners.has(port)) continue
      const since = this.#busy.get(port)
      if (since !== undefined && Date.now() - since < 30_000) continue
      this.#listen(port, app)
    }
  }

  #listen(port: number, app: string): void {
    const server = createServer({ pauseOnConnect: true, noDelay: true }, (c) => this.#accept(port, app, c))
    const l: Listener = { app, server, bound: false }
    this.#listeners.set(port, l)
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (this.#listeners.get(port) === l) this.#listeners.delete(port)
      this.#busy.set(port, Date.now())
      this.#o.logger.warn({ port, app, err: e.code ?? e.message }, `proxy: cannot listen on ${this.#o.host}:${port} for app ${app}'s TCP service`)
    })
    server.listen(port, this.#o.host, () => {
      l.bound = true
      this.#busy.delete(port)
      this.#o.logger.info({ port, app }, 'proxy: TCP listener open')
    })
  }

  /**
   * The machine for a new connection, counted against its TCP service until the connection closes; woken first if
   * it slept; past every machine's hard_limit the connection waits (paused) in the app's queue, as HTTP
   * requests do, and leaves it if the client hangs up.
   */
  async #pick(port: number, app: string, client: Socket): Promise<{ route: Route; svc: TcpService; key: number }> {
    const routes = this.#o.routes
    const attempt = (): Choice => tcpChoice(routes.app(app) ?? [], app, port)
    // The key is fixed when the connection is counted: a config change while it is open must not move its release.
    let key = port
    const count = { acquire: (r: Route) => routes.openTcp(r, (key = serviceKey(r, port))), release: (r: Route) => routes.closeTcp(r, key) }
    const route = await settle(this.#o, attempt(), { app, attempt, client }, count)
    const svc = serviceOn(route, port) as TcpService
    try {
      // The machine is started (woken if it slept); its TCP port may open a moment after its HTTP one.
      await waitForPort(route.host as string, svc.internalPort, Date.now() + this.#o.wakeTimeoutMs)
    } catch (e) {
      routes.closeTcp(route, key)
      throw e
    }
    return { route, svc, key }
  }

  #accept(port: number, app: string, client: Socket): void {
    this.#sockets.add(client)
    client.once('close', () => this.#sockets.delete(client))
    client.on('error', () => client.destroy())
    this.#pick(port, app, client).then(
      ({ route, svc, key }) => {
        let released = false
        const release = (): void => {
          if (!released) this.#o.routes.closeTcp(route, key)
          released = true
        }
        if (client.destroyed) return release()
        const up = connect({ host: route.host as string, port: svc.internalPort, noDelay: true })
        up.on('error', () => client.destroy())
        client.on('close', () => {
          up.destroy()
          release()
        })
        up.on('close', () => client.destroy())
        up.once('connect', () => {
          client.pipe(up)
          up.pipe(client)
          client.resume()
        })
      },
      (e: unknown) => {
        // A client that left while queued or waking is nobody's problem.
        const gone = e instanceof RouteError && e.status === 499
        this.#o.logger[gone ? 'debug' : 'warn']({ port, app, err: e instanceof Error ? e.message : String(e) }, 'proxy: TCP connection refused')
        client.destroy()
      },
    )
  }

  close(): void {
    this.#running = false
    for (const l of this.#listeners.values()) l.server.close()
    this.#listeners.clear()
    for (const c of this.#sockets) c.destroy()
  }
}
