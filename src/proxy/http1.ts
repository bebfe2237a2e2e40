/**
 * HTTP/1.1 front: node:http in, the shared request path (forward.ts) out.
 * Upgrade requests (WebSocket and anything else) take their own node:http
 * connection to the machine; once it answers 101 the two sockets are piped.
 * Node's parser refuses smuggling (Content-Length with Transfer-Encoding → 400)
 * and oversized heads (→ 431) before a request ever reaches this code.
 */
import http, { type IncomingMessage } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import type { Http2SecureServer, Http2Server } from 'node:http2'
import type { Socket } from 'node:net'
import { errorPageOnSocket, rawHead, requestId, responseHead, scanRequest, type Front } from './headers.ts'
import { clientIp, createForwarder, type ForwardDeps, type FrontRequest, type FrontResponse } from './forward.ts'

export type RequestHandler = (req: FrontRequest, res: FrontResponse) => void
/** Slow-client guards for HTTP/1.1 heads and bodies (see index.ts clientTimeouts). */
export type ClientTimeouts = { headersTimeout?: number; requestTimeout?: number; connectionsCheckingInterval?: number }
import { RouteError, type Route } from './route-table.ts'
import { stickyCookie, target } from './target.ts'

/** Answers Upgrade requests on any HTTP/1.1-speaking server (plain, TLS, or h2 with allowHTTP1). */
export function handleUpgrades(server: http.Server | HttpsServer | Http2SecureServer | Http2Server, d: ForwardDeps, front: Front): void {
  // Machines' answers are parsed leniently, as nginx does: CGI scripts end header lines with a bare LF.
  const lenient = { insecureHTTPParser: true }

  function fail(socket: Socket, e: unknown, id: string, req: IncomingMessage): void {
    const status = e instanceof RouteError ? e.status : 502
    const message = e instanceof Error ? e.message : String(e)
    d.logger[status >= 502 ? 'warn' : 'debug']({ request_id: id, status, host: req.headers.host, path: req.url }, `proxy: ${message}`)
    errorPageOnSocket(socket, status, message, id)
  }

  async function onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const id = requestId(d.region)
    socket.on('error', () => socket.destroy())
    const s = scanRequest(req.rawHeaders, front, { id, region: d.region, clientIp: clientIp(socket.remoteAddress), upgrade: true })
    let route: Route
    try {
      route = await target(d, s, req)
    } catch (e) {
      fail(socket, e, id, req)
      return
    }
    // Counted until the socket closes (at once if the client left while its machine woke); for a connection
    // that holds its machine (type connections) that is the binding's own release.
    if (socket.closed) {
      if (!s.held) d.routes.release(route)
      return
    }
    if (!s.held) socket.once('close', () => d.routes.release(route))
    if (s.preferMissed !== undefined && route.id !== s.preferMissed) s.headers.push('fly-preferred-instance-unavailable', s.preferMissed)
    // A dedicated connection: an upgraded socket never goes back to a pool.
    const up = http.request({ host: route.host as string, port: route.service.port, method: req.method, path: req.url, headers: s.headers, agent: false, setHost: false, ...lenient })
    up.on('upgrade', (upRes, upSocket, upHead) => {
      const h = responseHead(upRes.headers, id, stickyCookie(route))
      if (upRes.headers.upgrade) h.push('connection', 'upgrade', 'upgrade', upRes.headers.upgrade)
      socket.write(rawHead(upRes.statusCode ?? 101, upRes.statusMessage, h))
      if (upHead.length) socket.write(upHead)
      if (head.length) upSocket.write(head)
      upSocket.on('error', () => socket.destroy())
      upSocket.on('close', () => socket.destroy())
      socket.on('close', () => upSocket.destroy())
      upSocket.pipe(socket)
      socket.pipe(upSocket)
    })
    // The machine declined the upgrade: relay its answer and close.
    up.on('response', (upRes) => {
      socket.write(rawHead(upRes.statusCode ?? 502, upRes.statusMessage, [...responseHead(upRes.headers, id, stickyCookie(route)), 'connection', 'close']))
      upRes.pipe(socket)
    })
    up.on('error', (e) => fail(socket, new RouteError(502, `machine ${route.id} did not answer the upgrade: ${e.message}`), id, req))
    up.end()
  }

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => void onUpgrade(req, socket, head))
}

/** The plain-TCP HTTP/1.1 listener; `handler` is the forwarder, or redirectToHttps(). */
export function createHttp1Server(d: ForwardDeps, front: Front, handler: RequestHandler = createForwarder(d, front), limits: ClientTimeouts = {}): http.Server {
  const server = http.createServer({ noDelay: true, ...limits }, handler as (req: IncomingMessage, res: http.ServerResponse) => void)
  handleUpgrades(server, d, front)
  return server
}

/** Answers every request with a 301 to the same host and path on HTTPS; `port()` is the HTTPS port once bound. */
export function redirectToHttps(port: () => string): RequestHandler {
  return (req, res) => {
    const host = String(req.headers.host ?? req.headers[':authority'] ?? '').replace(/:\d+$/, '')
    const p = port()
    const r = res as http.ServerResponse
    r.writeHead(301, { location: `https://${host}${p === '443' ? '' : `:${p}`}${req.url ?? '/'}`, 'content-length': 0 })
    r.end()
  }
}
