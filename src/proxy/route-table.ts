/**
 * The proxy's view of the world: app → machines with state, address, service
 * settings and live load. Built once from the platform at startup, then kept
 * current only from its change feed, so routing a request never touches the store.
 */
import type { MachineRow } from '../store/index.ts'
import { parseDurationMs } from '../lib/duration.ts'

/** The part of the platform the proxy uses; the daemon passes the real one. */
export interface ProxyPlatform {
  events: { subscribe(fn: (c: { machine: MachineRow }) => void): () => void }
  machines: {
    allLive(): MachineRow[]
    start(app: string, id: string, guard?: { nonce?: string }, opts?: { requestId?: string }): Promise<unknown>
    stop(app: string, id: string): Promise<unknown>
    suspend(app: string, id: string): Promise<unknown>
  }
  /** Throws when the app does not exist; asked only on a miss, to tell 404 from 503. */
  apps: { get(name: string): unknown }
}

/** A machine's HTTP service, normalised from its config's `services[]`. */
export interface HttpService {
  port: number
  /**
   * `concurrency.type`: what one unit of load is. `requests` (Fly's advice for
   * HTTP): each request in flight. `connections` (Fly's default): each client
   * connection, bound to one machine while it is open (connections.ts).
   */
  type: 'connections' | 'requests'
  autostart: boolean
  autostop: 'off' | 'stop' | 'suspend'
  minMachinesRunning: number
  softLimit: number
  hardLimit: number
  /** `http_options.sticky_cookie`: the cookie that pins a client to the machine that answered it, or null. */
  stickyCookie: string | null
  /** `checks[]`: the balancer passes over a started machine failing any of them (health.ts). */
  checks: HealthCheck[]
}

/** A service health check, normalised (Fly's defaults: every 15 s, 2 s to answer, counted from 1 s after start). */
export interface HealthCheck {
  type: 'tcp' | 'http'
  intervalMs: number
  timeoutMs: number
  graceMs: number
  method: string
  path: string
  https: boolean
  headers: [string, string][]
}

/** A raw TCP service (ports without handlers): the proxy pipes bytes from `ports` on its host to `internalPort`. */
export interface TcpService {
  internalPort: number
  /** External ports the proxy listens on. */
  ports: number[]
  autostart: boolean
  hardLimit: number
}

export interface Route {
  id: string
  app: string
  state: string
  host: string | null
  service: HttpService
  /**
   * The HTTP service's load, the figure its balancer, limits and queue read:
   * requests in flight (those not riding a held connection), open upgraded
   * connections, and open client connections bound to it (`holds`, type
   * connections). Raw TCP services count apart (`tcpOpen`), as Fly counts per service.
   */
  load: number
  /** Open raw TCP connections, each TCP service's own load, keyed by the service's first external port (tcp.ts). */
  tcpOpen: Map<number, number>
  /** How much of `load` is client connections bound to it (type connections; connections.ts). */
  holds: number
  /** Its service's health checks, as last run since it started (health.ts): failing ones keep the balancer away. */
  health: { passing: boolean; output: string } | null
  /** Bumped when the machine leaves 'started': every connection bound before then has had its slot released. */
  epoch: number
  /** When load last dropped to zero or the machine last started (ms). */
  lastActive: number
  /** Set while autostop is stopping it, so no new request is sent its way. */
  draining: boolean
  /** Config version the service was parsed from. */
  version: string
  /** Raw TCP services (absent: none). */
  tcp?: TcpService[]
}

type ServiceConfig = {
  internal_port?: number
  protocol?: string
  ports?: { port?: number; handlers?: string[] }[]
  autostart?: boolean
  autostop?: boolean | string
  min_machines_running?: number
  concurrency?: { type?: string; soft_limit?: number; hard_limit?: number }
  http_options?: { sticky_cookie?: boolean | string }
  // Read defensively: configs stored before the API validated checks may hold anything here.
  checks?: unknown
}

/** The cookie `http_options.sticky_cookie: true` sets; a string names another. */
export const STICKY_COOKIE = 'hangar-instance'

/** Why a request could not be given a machine: the status and the sentence the client sees. */
export class RouteError extends Error {
  readonly status: number
  /** The machines are there but busy (every hard_limit reached, the queue full or waited out): worth asking again, nothing is gone. */
  readonly busy: boolean
  constructor(status: number, message: string, o: { busy?: boolean } = {}) {
    super(message)
    this.status = status
    this.busy = o.busy === true
  }
}

/** The port of a machine whose config names no service and whose image exposes none. */
export const DEFAULT_PORT = 8080

/**
 * First service with an `http` handler (else the first service). Without
 * services: the image's first exposed port (else 8080), and no
 * autostart/autostop, since Fly's proxy never starts or stops machines that
 * declare no services.
 */
export function httpService(config: Record<string, unknown>, imageRef: Record<string, unknown> = {}): HttpService {
  const exposed = Number.parseInt(String((imageRef.exposed_ports as string[] | undefined)?.[0] ?? ''), 10)
  const fallbackPort = Number.isInteger(exposed) && exposed > 0 ? exposed : DEFAULT_PORT
  const services = (Array.isArray(config.services) ? config.services : []) as ServiceConfig[]
  const s = services.find((x) => x.ports?.some((p) => p.handlers?.includes('http'))) ?? services[0]
  if (!s) return { port: fallbackPort, type: 'connections', autostart: false, autostop: 'off', minMachinesRunning: 0, softLimit: 20, hardLimit: Infinity, stickyCookie: null, checks: [] }
  const stop = s.autostop
  return {
    port: s.internal_port ?? fallbackPort,
    // Fly's default (and the API schema's) is connections.
    type: s.concurrency?.type === 'requests' ? 'requests' : 'connections',
    autostart: s.autostart !== false,
    autostop: stop === true || stop === 'stop' ? 'stop' : stop === 'suspend' ? 'suspend' : 'off',
    minMachinesRunning: s.min_machines_running ?? 0,
    softLimit: s.concurrency?.soft_limit ?? 20,
    hardLimit: s.concurrency?.hard_limit ?? Infinity,
    stickyCookie: stickyName(s.http_options?.sticky_cookie),
    checks: (Array.isArray(s.checks) ? s.checks : []).flatMap(healthCheck),
  }
}

/** One check, or none when the entry is not an object. */
function healthCheck(v: unknown): HealthCheck[] {
  if (typeof v !== 'object' || v === null) return []
  const c = v as Record<string, unknown>
  const ms = (x: unknown, fallback: number): number => (typeof x === 'string' || typeof x === 'number' ? (parseDurationMs(x) ?? fallback) : fallback)
  const str = (x: unknown, fallback: string): string => (typeof x === 'string' ? x : fallback)
  const headers: [string, string][] = []
  for (const h of Array.isArray(c.headers) ? c.headers : []) {
    const name = (h as { name?: unknown })?.name
    const values = (h as { values?: unknown })?.values
    if (typeof name === 'string' && name && Array.isArray(values)) for (const x of values) if (typeof x === 'string') headers.push([name, x])
  }
  return [{
    type: c.type === 'http' ? 'http' : 'tcp',
    // At least 100 ms between runs and to answer: a zero would spin.
    intervalMs: Math.max(100, ms(c.interval, 15_000)),
    timeoutMs: Math.max(100, ms(c.timeout, 2_000)),
    graceMs: ms(c.grace_period, 1_000),
    method: str(c.method, 'GET').toUpperCase(),
    path: str(c.path, '/'),
    https: c.protocol === 'https',
    headers,
  }]
}

/** Services whose ports have no handlers at all: raw TCP, piped as bytes. (`tls`-only handlers are not served.) */
export function tcpServices(config: Record<string, unknown>): TcpService[] {
  const services = (Array.isArray(config.services) ? config.services : []) as ServiceConfig[]
  const out: TcpService[] = []
  for (const s of services) {
    if ((s.protocol ?? 'tcp') !== 'tcp' || typeof s.internal_port !== 'number' || !s.ports?.length) continue
    if (s.ports.some((p) => p.handlers?.length)) continue
    const ports = s.ports.map((p) => p.port).filter((p): p is number => typeof p === 'number')
    if (ports.length) out.push({ internalPort: s.internal_port, ports, autostart: s.autostart !== false, hardLimit: s.concurrency?.hard_limit ?? Infinity })
  }
  return out
}

function stickyName(v: unknown): string | null {
  if (v === true) return STICKY_COOKIE
  return typeof v === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(v) ? v : null
}

export class RouteTable {
  readonly #apps = new Map<string, Map<string, Route>>()
  readonly #byId = new Map<string, Route>()
  // app() is on every request's path: its array is kept until the app's membership changes.
  readonly #lists = new Map<string, Route[]>()
  readonly #unsubscribe: () => void
  #upstreams = 0
  /** Called when machines come, go or change config: the TCP listeners follow. */
  onConfig: (() => void) | undefined
  /** Called when an app's machines may have a slot free (a request ended, a machine changed): the queue listens. */
  onChange: ((app: string) => void) | undefined

  constructor(platform: ProxyPlatform) {
    // Subscribe and list in the same tick: the feed is synchronous, so nothing falls between.
    this.#unsubscribe = platform.events.subscribe(({ machine }) => this.apply(machine))
    for (const m of platform.machines.allLive()) this.apply(m)
  }

  /** Folds one machine row into the table; destroyed machines leave it. */
  apply(m: MachineRow): void {
    if (m.state === 'destroyed') {
      // Anything still holding the route (a queued request pinned to it) sees it gone.
      const gone = this.#byId.get(m.id)
      if (gone) {
        gone.state = 'destroyed'
        gone.host = null
        this.#dropHolds(gone)
      }
      this.#byId.delete(m.id)
      const app = this.#apps.get(m.app_name)
      app?.delete(m.id)
      this.#lists.delete(m.app_name)
      if (app?.size === 0) this.#apps.delete(m.app_name)
      this.onConfig?.()
      this.onChange?.(m.app_name)
      return
    }
    let r = this.#byId.get(m.id)
    if (!r) {
      r = { id: m.id, app: m.app_name, state: m.state, host: m.private_ip, service: httpService(m.config, m.image_ref), tcp: tcpServices(m.config), load: 0, tcpOpen: new Map(), holds: 0, health: null, epoch: 0, lastActive: Date.now(), draining: false, version: m.instance_id }
      this.#byId.set(m.id, r)
      let app = this.#apps.get(m.app_name)
      if (!app) this.#apps.set(m.app_name, (app = new Map()))
      app.set(m.id, r)
      this.#lists.delete(m.app_name)
      this.onConfig?.()
    }
    if (r.version !== m.instance_id) {
      r.service = httpService(m.config, m.image_ref)
      r.tcp = tcpServices(m.config)
      r.version = m.instance_id
      this.onConfig?.()
    }
    // A machine that just started gets a full idle period before autostop may take it.
    if (m.state === 'started' && r.state !== 'started') r.lastActive = Date.now()
    // One that stops (or restarts, or is replaced) no longer serves the client connections bound to it.
    if (m.state !== 'started' && r.state === 'started') {
      this.#dropHolds(r)
      r.health = null
    }
    r.state = m.state
    r.host = m.private_ip
    this.onChange?.(m.app_name)
  }

  /** The app's machines, or undefined when the table knows no machine of it. */
  app(name: string): readonly Route[] | undefined {
    let list = this.#lists.get(name)
    if (list) return list
    const a = this.#apps.get(name)
    if (!a) return undefined
    this.#lists.set(name, (list = [...a.values()]))
    return list
  }

  machine(id: string): Route | undefined {
    return this.#byId.get(id)
  }

  /** Counts a request (or upgraded or TCP connection) against the machine's limits; pair with release(). */
  acquire(r: Route): void {
    r.load++
  }

  release(r: Route): void {
    r.load--
    r.lastActive = Date.now()
    this.onChange?.(r.app)
  }

  /** Counts a raw TCP connection against the machine's TCP service `key` (tcp.ts); pair with closeTcp(). */
  openTcp(r: Route, key: number): void {
    r.tcpOpen.set(key, (r.tcpOpen.get(key) ?? 0) + 1)
  }

  closeTcp(r: Route, key: number): void {
    const n = (r.tcpOpen.get(key) ?? 1) - 1
    if (n > 0) r.tcpOpen.set(key, n)
    else r.tcpOpen.delete(key)
    r.lastActive = Date.now()
    this.onChange?.(r.app)
  }

  /** Nothing in flight or open on any of its services: what autostop waits for. */
  idle(r: Route): boolean {
    return r.load === 0 && r.tcpOpen.size === 0
  }

  /**
   * Turns one acquire()d count into a client connection's slot (type
   * connections); returns the epoch to hand back to unhold(). The count stays
   * in `load`: nothing is counted twice.
   */
  hold(r: Route): number {
    r.holds++
    return r.epoch
  }

  /** Releases a client connection's slot, unless the machine left 'started' since (its slots were all released then). */
  unhold(r: Route, epoch: number): void {
    if (epoch !== r.epoch) return
    r.holds--
    this.release(r)
  }

  /** The machine no longer serves its bound client connections: their slots go at once, and unhold() of any of them is a no-op. */
  #dropHolds(r: Route): void {
    r.epoch++
    if (r.holds === 0) return
    r.load -= r.holds
    r.holds = 0
    r.lastActive = Date.now()
  }

  /** Every machine (the TCP listeners' sync walks them). */
  all(): IterableIterator<Route> {
    return this.#byId.values()
  }

  apps(): string[] {
    return [...this.#apps.keys()]
  }

  /**
   * Benchmarks only: an always-started pseudo machine at a loopback address, so
   * the proxy can be measured against nginx in front of the same upstream.
   */
  addUpstream(app: string, upstream: { host: string; port: number }): Route {
    const id = `upstream-${++this.#upstreams}`
    const r: Route = {
      id, app, state: 'started', host: upstream.host, load: 0, tcpOpen: new Map(), holds: 0, health: null, epoch: 0, lastActive: Date.now(), draining: false, version: id,
      service: { port: upstream.port, type: 'requests', autostart: false, autostop: 'off', minMachinesRunning: 0, softLimit: Infinity, hardLimit: Infinity, stickyCookie: null, checks: [] },
    }
    this.#byId.set(id, r)
    let a = this.#apps.get(app)
    if (!a) this.#apps.set(app, (a = new Map()))
    a.set(id, r)
    this.#lists.delete(app)
    return r
  }

  close(): void {
    this.#unsubscribe()
  }
}
