/**
 * The edge proxy: `http(s)://<app>.<domain>:<port>` (or a custom hostname) →
 * one of the app's machines, over HTTP/1.1, HTTPS and h2, with Fly's routing
 * controls, autostart/autostop, replay and session affinity.
 *   const proxy = createProxy({ platform, logger, config: { host: '127.0.0.1', port: 4281, httpsPort: 4443, dir: '/var/lib/hangar/proxy', domain: 'localhost', region: 'local', idleMs: 300_000, wakeTimeoutMs: 10_000 } })
 *   const { url, httpsUrl } = await proxy.listen()   // curl --cacert <dir>/ca/ca.crt https://myapp.localhost:4443/
 *   await proxy.close()
 */
import type { Server } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import type { Logger } from 'pino'
import type { Front } from './headers.ts'
import { createHttpsServer, withH2c } from './h2.ts'
import { createForwarder } from './forward.ts'
import { createHttp1Server, redirectToHttps } from './http1.ts'
import { ReplayCache } from './replay-cache.ts'
import { HealthChecks, type CheckStatus } from './health.ts'
import { RouteTable, type ProxyPlatform } from './route-table.ts'
import { Sessions, appForHost } from './target.ts'
import { CertStore } from './tls.ts'
import { Upstreams } from './upstream.ts'
import { Waker } from './wake.ts'
import { Queues } from './queue.ts'
import { TcpListeners } from './tcp.ts'
import { Connections } from './connections.ts'
import type { PortRange } from '../lib/port-ranges.ts'

export { RouteTable, httpService, tcpServices, DEFAULT_PORT } from './route-table.ts'
export type { ProxyPlatform, Route, HttpService } from './route-table.ts'

export interface ProxyConfig {
  host: string
  /** 0 picks a free port; listen() reports the real one. */
  port: number
  /** HTTPS (h2 and HTTP/1.1, certificates by SNI); 0 picks a free port; absent: no HTTPS listener. */
  httpsPort?: number
  /** `<data-dir>/proxy`: the local CA, issued and user certificates. Needed with httpsPort. */
  dir?: string
  /** Answer plain HTTP with a 301 to the HTTPS listener. */
  redirectHttps?: boolean
  /** Accept cleartext h2 (prior knowledge) on the plain port too. */
  h2c?: boolean
  /** Custom hostname → app, beside `<app>.<domain>`. */
  hostnames?: Record<string, string>
  /** Apps answer at `<app>.<domain>`. */
  domain: string
  /** Reported in Fly-Region and request ids. */
  region: string
  /** Autostop takes a machine after this long with no request or connection. */
  idleMs: number
  /** How long a request waits for its machine to start and accept connections. */
  wakeTimeoutMs: number
  /** ms a client has to send a request head (HTTP/1.1, plain and TLS); 408 after. Default 10 s. */
  headersTimeout?: number
  /** ms a client has to send a whole request, body included; 0 = no limit. Default 300 s (Node's). */
  requestTimeout?: number
  /** Host ports raw TCP services may listen on; absent: none. */
  tcpPorts?: PortRange[]
}

export interface Listening {
  url: string
  port: number
  httpsUrl?: string
  httpsPort?: number
  /** The local CA's certificate, to trust for HTTPS. */
  caCertPath?: string
}

export interface Proxy {
  listen(): Promise<Listening>
  close(): Promise<void>
  routes: RouteTable
  /** Requests of `app` waiting past every hard limit. */
  queued(app: string): number
  /** A machine's service health checks as last run (health.ts); undefined when it declares none. */
  checks(machineId: string): CheckStatus[] | undefined
}

/** Builds the route table from the platform now; serves once listen() is called. */
export function createProxy(deps: { platform: ProxyPlatform; logger: Logger; config: ProxyConfig }): Proxy {
  const { platform, config } = deps
  const logger = deps.logger.child({ room: 'proxy' })
  const routes = new RouteTable(platform)
  const waker = new Waker({ platform, routes, logger, wakeTimeoutMs: config.wakeTimeoutMs, idleMs: config.idleMs })
  const upstreams = new Upstreams()
  const health = new HealthChecks({ routes, logger })
  // Past every hard limit a request waits (100 per app, at most the wake timeout) for a slot.
  const queues = new Queues({ waitMs: config.wakeTimeoutMs })
  routes.onChange = (app) => queues.kick(app)
  // Raw TCP services (ports without handlers) get their own listeners on the proxy host, opened in listen().
  const tcp = new TcpListeners({ routes, waker, queues, logger, host: config.host, wakeTimeoutMs: config.wakeTimeoutMs, allowed: config.tcpPorts ?? [] })
  routes.onConfig = () => tcp.sync()
  const hostnames = new Map(Object.entries(config.hostnames ?? {}).map(([h, a]) => [h.toLowerCase(), a]))
  const core = { routes, waker, sessions: new Sessions(), replayCache: new ReplayCache(), queues, conns: new Connections(routes), platform, domain: config.domain, hostnames, logger, region: config.region, upstreams }
  const front: Front = { proto: 'http', port: String(config.port) }
  const secure: Front = { proto: 'https', port: String(config.httpsPort ?? 0) }
  const https = config.httpsPort !== undefined
  const handler = config.redirectHttps && https ? redirectToHttps(() => secure.port) : createForwarder(core, front)
  const limits = clientTimeouts(config.headersTimeout ?? 10_000, config.requestTimeout ?? 300_000)
  const h1 = createHttp1Server(core, front, handler, limits)
  const plain: Server = config.h2c ? withH2c(h1, handler, limits).server : h1
  // Every connection, so close() can end upgraded sockets and h2 sessions that outlive the servers' own bookkeeping.
  const sockets = new Set<Socket>()
  const servers: Server[] = [plain]
  const track = (s: Server): void => {
    s.on('connection', (c: Socket) => {
      sockets.add(c)
      c.once('close', () => sockets.delete(c))
    })
  }
  track(plain)

  const bind = (s: Server, port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      s.once('error', reject)
      s.listen(port, config.host, () => {
        s.off('error', reject)
        resolve((s.address() as AddressInfo).port)
      })
    })
  const origin = (scheme: string, port: number): string => `${scheme}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`

  return {
    routes,
    queued: (app) => queues.length(app),
    checks: (id) => health.status(id),
    async listen() {
      const out: Listening = { url: '', port: 0 }
      if (https) {
        if (!config.dir) throw new Error('the HTTPS listener needs config.dir for its certificates')
        const certs = new CertStore({ dir: config.dir, defaultName: config.domain, logger, routable: (h) => isRoutable(core, h) })
        const server = createHttpsServer(core, secure, certs, await certs.init(), limits)
        track(server)
        servers.push(server)
        out.httpsPort = await bind(server, config.httpsPort as number)
        secure.port = String(out.httpsPort)
        out.httpsUrl = origin('https', out.httpsPort)
        out.caCertPath = certs.caCertPath
      }
      out.port = await bind(plain, config.port)
      front.port = String(out.port)
      out.url = origin('http', out.port)
      tcp.start()
      return out
    },
    async close() {
      waker.close()
      health.close()
      queues.close()
      tcp.close()
      routes.close()
      const closed = Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
      // Idle keep-alive connections would hold close() open; in-flight ones get a short grace.
      h1.closeIdleConnections()
      const cut = setTimeout(() => {
        for (const s of sockets) s.destroy()
      }, 2000)
      await closed
      clearTimeout(cut)
      await upstreams.close()
    },
  }
}

/**
 * node:http's slow-client guards. The check runs every connectionsCheckingInterval
 * (Node's 30 s would let a slow head live far past headersTimeout); Node also
 * insists headersTimeout ≤ requestTimeout when the latter is on.
 */
export function clientTimeouts(headersTimeout: number, requestTimeout: number): { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number } {
  const headers = requestTimeout > 0 ? Math.min(headersTimeout, requestTimeout) : headersTimeout
  return { headersTimeout: headers, requestTimeout, connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(headers / 4))) }
}

/** Whether a hostname leads to an app the proxy knows (the only ones that get certificates). */
function isRoutable(d: Parameters<typeof appForHost>[0] & { routes: RouteTable; platform: ProxyPlatform }, host: string): boolean {
  const app = appForHost(d, host)
  if (!app) return false
  if (d.routes.app(app)) return true
  try {
    d.platform.apps.get(app)
    return true
  } catch {
    return false
  }
}
