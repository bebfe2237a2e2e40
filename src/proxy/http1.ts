/**
 * HTTP/1.1 front: node:http in, node:http out to `<private_ip>:<internal_port>`.
 * Bodies stream both ways (nothing buffers a whole body; SSE and other
 * unframed responses get their head flushed at once), Upgrade requests become
 * two piped sockets, and a fly-replay answer re-sends the request elsewhere.
 * Node's parser refuses smuggling (Content-Length with Transfer-Encoding → 400)
 * and oversized heads (→ 431) before a request ever reaches this code.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import { errorPage, errorPageOnSocket, rawHead, requestHeaders, requestId, responseHeaders } from './headers.ts'
import { BodyCapture, MAX_REPLAYS, parseReplay, replaySource, replayTarget } from './replay.ts'
import { RouteError, type Route } from './route-table.ts'
import { target, type TargetDeps } from './target.ts'

export interface Http1Options extends TargetDeps {
  logger: Logger
  region: string
}

function clientIp(s: Socket): string {
  const a = s.remoteAddress ?? ''
  return a.startsWith('::ffff:') ? a.slice(7) : a
}

export function createHttp1Server(o: Http1Options): http.Server {
  // Keep-alive to machines: a new TCP handshake per request would dominate small responses.
  const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 1024, scheduling: 'lifo', noDelay: true } as http.AgentOptions)
  // Machines' answers are parsed leniently, as nginx does: CGI scripts (busybox
  // httpd's among them) end header lines with a bare LF. Clients' requests stay strict.
  const lenient = { insecureHTTPParser: true }

  function fail(res: ServerResponse | Socket, e: unknown, id: string, req: IncomingMessage): void {
    const status = e instanceof RouteError ? e.status : 502
    const message = e instanceof Error ? e.message : String(e)
    const log = status >= 502 ? o.logger.warn.bind(o.logger) : o.logger.debug.bind(o.logger)
    log({ request_id: id, status, host: req.headers.host, path: req.url }, `proxy: ${message}`)
    if ('writeHead' in res) errorPage(res, status, message, id)
    else errorPageOnSocket(res, status, message, id)
  }

  /** One attempt at one machine; `hops` counts replays so far. */
  function forward(req: IncomingMessage, res: ServerResponse, route: Route, id: string, body: BodyCapture, hops: number, replayed?: { src: string; bytes: Buffer }): void {
    let released = false
    const release = (): void => {
      if (!released) o.routes.release(route)
      released = true
    }
    let replaying = false
    const headers = requestHeaders(req, { requestId: id, region: o.region, clientIp: clientIp(req.socket), port: req.socket.localPort ?? 0, upgrade: false })
    if (replayed) {
      headers['fly-replay-src'] = replayed.src
      if (replayed.bytes.length || req.headers['content-length'] !== undefined) headers['content-length'] = String(replayed.bytes.length)
    }
    const up = http.request({ host: route.host as string, port: route.service.port, method: req.method, path: req.url, headers, agent, ...lenient })
    up.on('response', (upRes) => {
      const replay = upRes.headers['fly-replay']
      if (typeof replay === 'string' && !res.headersSent) {
        replaying = true
        upRes.resume()
        req.unpipe(up)
        up.destroy()
        release()
        void doReplay(req, res, route, id, body, hops, replay)
        return
      }
      const session = upRes.headers['mcp-session-id']
      if (typeof session === 'string') {
        // An MCP server ending its session (DELETE → 2xx) frees the mapping.
        if (req.method === 'DELETE' && (upRes.statusCode ?? 500) < 300) o.sessions.forget(session)
        else o.sessions.remember(session, route.id)
      }
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, responseHeaders(upRes, id))
      // Unframed or event-stream bodies may trickle: the client should see the head now, not with the first byte.
      if (upRes.headers['content-length'] === undefined || upRes.headers['content-type']?.startsWith('text/event-stream')) res.flushHeaders()
      upRes.pipe(res)
      // A machine that dies mid-body must not leave the client waiting for the rest.
      upRes.on('close', () => upRes.complete || res.destroy())
    })
    let clientGone = false
    up.on('error', (e) => {
      release()
      // Destroyed on purpose: a replay took over, or the client left first.
      if (replaying || clientGone) return
      if (res.headersSent) res.destroy()
      else fail(res, new RouteError(502, `machine ${route.id} (${route.host}:${route.service.port}) did not answer: ${e.message}`), id, req)
    })
    res.on('close', () => {
      release()
      // The client went away first: stop the machine's work on its behalf.
      if (!res.writableFinished) {
        clientGone = true
        up.destroy()
      }
    })
    if (replayed) up.end(replayed.bytes)
    else if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) up.end()
    else req.pipe(up)
  }

  async function doReplay(req: IncomingMessage, res: ServerResponse, src: Route, id: string, body: BodyCapture, hops: number, header: string): Promise<void> {
    try {
      if (hops >= MAX_REPLAYS) throw new RouteError(502, `request was replayed ${hops} times (fly-replay); giving up on what looks like a loop`)
      if (body.overflow) throw new RouteError(502, `machine ${src.id} asked to replay this request (fly-replay) but its body is over 1 MB, which cannot be replayed`)
      const directive = parseReplay(header)
      const bytes = await body.body(req)
      if (res.destroyed) return
      const next = await replayTarget(o, src, directive)
      forward(req, res, next, id, body, hops + 1, { src: replaySource(src, o.region, directive.state), bytes })
    } catch (e) {
      fail(res, e, id, req)
    }
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const id = requestId(o.region)
    let route: Route
    try {
      route = await target(o, req.headers)
    } catch (e) {
      fail(res, e, id, req)
      return
    }
    // The client may have given up while its machine was waking.
    if (res.destroyed) {
      o.routes.release(route)
      return
    }
    // Capture starts in the same tick as the pipe to the machine: a 'data' listener alone would let chunks flow past it.
    forward(req, res, route, id, new BodyCapture(req), 0)
  }

  async function onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const id = requestId(o.region)
    socket.on('error', () => socket.destroy())
    let route: Route
    try {
      route = await target(o, req.headers)
    } catch (e) {
      fail(socket, e, id, req)
      return
    }
    let released = false
    const release = (): void => {
      if (!released) o.routes.release(route)
      released = true
    }
    socket.once('close', release)
    const headers = requestHeaders(req, { requestId: id, region: o.region, clientIp: clientIp(socket), port: socket.localPort ?? 0, upgrade: true })
    // A dedicated connection: an upgraded socket never goes back to a pool.
    const up = http.request({ host: route.host as string, port: route.service.port, method: req.method, path: req.url, headers, agent: false, ...lenient })
    up.on('upgrade', (upRes, upSocket, upHead) => {
      const h = { ...responseHeaders(upRes, id), connection: 'upgrade', upgrade: upRes.headers.upgrade }
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
      socket.write(rawHead(upRes.statusCode ?? 502, upRes.statusMessage, { ...responseHeaders(upRes, id), connection: 'close' }))
      upRes.pipe(socket)
    })
    up.on('error', (e) => fail(socket, new RouteError(502, `machine ${route.id} did not answer the upgrade: ${e.message}`), id, req))
    up.end()
  }

  const server = http.createServer({ noDelay: true }, (req, res) => void onRequest(req, res))
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => void onUpgrade(req, socket, head))
  server.on('close', () => agent.destroy())
  return server
}
