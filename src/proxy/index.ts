/**
 * The edge proxy: `http://<app>.<domain>:<port>` → one of the app's machines,
 * with Fly's routing controls, autostart/autostop, replay and session affinity.
 *   const proxy = createProxy({ platform, logger, config: { host: '127.0.0.1', port: 4281, domain: 'localhost', region: 'local', idleMs: 300_000, wakeTimeoutMs: 10_000 } })
 *   const { url } = await proxy.listen()   // curl -H 'Host: myapp.localhost' $url
 *   await proxy.close()
 */
import type { IncomingMessage } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Logger } from 'pino'
import { createHttp1Server } from './http1.ts'
import { RouteTable, type ProxyPlatform } from './route-table.ts'
import { Sessions } from './target.ts'
import { Upstreams } from './upstream.ts'
import { Waker } from './wake.ts'
import type { Front } from './headers.ts'

export { RouteTable, httpService, FALLBACK_PORT } from './route-table.ts'
export type { ProxyPlatform, Route, HttpService } from './route-table.ts'

export interface ProxyConfig {
  host: string
  /** 0 picks a free port; listen() reports the real one. */
  port: number
  /** Apps answer at `<app>.<domain>`. */
  domain: string
  /** Reported in Fly-Region and request ids. */
  region: string
  /** Autostop takes a machine after this long with no request or connection. */
  idleMs: number
  /** How long a request waits for its machine to start and accept connections. */
  wakeTimeoutMs: number
}

export interface Proxy {
  listen(): Promise<{ host: string; port: number; url: string }>
  close(): Promise<void>
  routes: RouteTable
}

/** Builds the route table from the platform now; serves once listen() is called. */
export function createProxy(deps: { platform: ProxyPlatform; logger: Logger; config: ProxyConfig }): Proxy {
  const { platform, config } = deps
  const logger = deps.logger.child({ room: 'proxy' })
  const routes = new RouteTable(platform)
  const waker = new Waker({ platform, routes, logger, wakeTimeoutMs: config.wakeTimeoutMs, idleMs: config.idleMs })
  const upstreams = new Upstreams()
  const core = { routes, waker, sessions: new Sessions(), platform, domain: config.domain, logger, region: config.region, upstreams }
  const front: Front = { proto: 'http', port: String(config.port) }
  const server = createHttp1Server(core, front)
  // Upgraded sockets leave the server's bookkeeping; close() must still be able to end them.
  const upgraded = new Set<Socket>()
  server.on('upgrade', (_req: IncomingMessage, socket: Socket) => {
    upgraded.add(socket)
    socket.once('close', () => upgraded.delete(socket))
  })
  return {
    routes,
    listen() {
      return new Promise((resolve, reject) => {
        server.once('error', reject)
        server.listen(config.port, config.host, () => {
          server.off('error', reject)
          const port = (server.address() as AddressInfo).port
          front.port = String(port)
          const host = config.host.includes(':') ? `[${config.host}]` : config.host
          resolve({ host: config.host, port, url: `http://${host}:${port}` })
        })
      })
    },
    async close() {
      waker.close()
      routes.close()
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      // Idle keep-alive connections would hold close() open; in-flight ones get a short grace.
      server.closeIdleConnections()
      const cut = setTimeout(() => {
        server.closeAllConnections()
        for (const s of upgraded) s.destroy()
      }, 2000)
      await closed
      clearTimeout(cut)
      await upstreams.close()
    },
  }
}
