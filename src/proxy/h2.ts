/**
 * HTTP/2 fronts. The HTTPS listener is node:http2's secure server with
 * `allowHTTP1`: ALPN picks h2 or http/1.1 per connection, SNI picks the
 * certificate (tls.ts), and both kinds of request take the same path
 * (forward.ts) to the machine over HTTP/1.1. h2c (cleartext h2, prior
 * knowledge only) shares the plain port: the connection preface decides.
 */
import http2 from 'node:http2'
import type http from 'node:http'
import { createServer, type Server, type Socket } from 'node:net'
import { Duplex } from 'node:stream'
import { VIA, type Front } from './headers.ts'
import { createForwarder, type ForwardDeps } from './forward.ts'
import { handleUpgrades, type ClientTimeouts, type RequestHandler } from './http1.ts'
import type { CertStore } from './tls.ts'

/** How long an h2 session with no open stream stays: node:http's keep-alive time for an idle HTTP/1.1 connection. */
const IDLE_SESSION_MS = 5000

/**
 * Idle h2 sessions (no open stream for `idleMs`) get a GOAWAY, as node:http
 * closes an idle HTTP/1.1 connection after its keepAliveTimeout; node:http2
 * itself keeps them forever. Without this an idle client (a browser tab) would
 * hold its connection's slot (concurrency.type connections) and keep its machine
 * from autostop indefinitely. One timer per session, refreshed, not re-made.
 */
export function closeIdleSessions(server: http2.Http2SecureServer | http2.Http2Server, idleMs = IDLE_SESSION_MS): void {
  server.on('session', (session: http2.ServerHttp2Session) => {
    let open = 0
    // Fires only once no stream has been open for idleMs: re-armed each time the last one closes.
    const timer = setTimeout(() => {
      if (open === 0 && !session.closed) session.close()
    }, idleMs).unref()
    session.on('stream', (stream: http2.ServerHttp2Stream) => {
      open++
      stream.once('close', () => {
        if (--open === 0) timer.refresh()
      })
    })
    session.once('close', () => clearTimeout(timer))
  })
}

/** Streams per h2 session (nginx's http2_max_concurrent_streams); node:http2 would allow 2^32 − 1. */
const MAX_STREAMS = 128

/**
 * HTTP/1.1's requestTimeout for h2: a stream whose client has not finished
 * sending its body (END_STREAM) within `requestTimeout` ms is answered 408 (or reset, when its answer has begun),
 * so a client trickling bodies cannot hold streams, machines' slots and memory.
 * A session that never sends a complete head is the idle-session GOAWAY's business.
 */
function limitSlowStreams(server: http2.Http2SecureServer | http2.Http2Server, requestTimeout: number | undefined): void {
  if (!requestTimeout) return
  server.on('stream', (stream: http2.ServerHttp2Stream) => {
    if (stream.endAfterHeaders) return
    const timer = setTimeout(() => {
      if (stream.destroyed || stream.readableEnded) return
      // The client sent END_STREAM in time; the proxy has not read it all yet (queued, waking, a slow machine).
      const state = stream.state?.state
      if (state === http2.constants.NGHTTP2_STREAM_STATE_HALF_CLOSED_REMOTE || state === http2.constants.NGHTTP2_STREAM_STATE_CLOSED) return
      if (stream.headersSent) {
        stream.close(http2.constants.NGHTTP2_CANCEL)
        return
      }
      const body = `408 Request Timeout: the request body did not arrive within ${requestTimeout} ms\n`
      stream.respond({ ':status': 408, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), via: VIA })
      stream.end(body)
      // The client's unread body must not keep the stream open.
      stream.close(http2.constants.NGHTTP2_NO_ERROR)
    }, requestTimeout).unref()
    stream.once('end', () => clearTimeout(timer))
    stream.once('close', () => clearTimeout(timer))
  })
}

/** The HTTPS listener: h2 and HTTP/1.1 over TLS, certificates by SNI. */
export function createHttpsServer(d: ForwardDeps, front: Front, certs: CertStore, fallback: { key: string; cert: string }, limits: ClientTimeouts = {}): http2.Http2SecureServer {
  // With allowHTTP1 node:http2 applies node:http's head/request timeouts to HTTP/1.1 connections.
  const server = http2.createSecureServer({ allowHTTP1: true, ...fallback, SNICallback: certs.sni, minVersion: 'TLSv1.2', settings: { maxConcurrentStreams: MAX_STREAMS }, ...limits }, createForwarder(d, front))
  closeIdleSessions(server)
  limitSlowStreams(server, limits.requestTimeout)
  handleUpgrades(server, d, front)
  // A failed handshake (no certificate for that name, a client that hung up) is the client's business, not the daemon's.
  server.on('tlsClientError', (e: Error) => d.logger.debug({ err: e.message }, 'proxy: TLS handshake failed'))
  return server
}

const PREFACE = 'PRI * HTTP/2.0'

/**
 * The plain port with h2c beside HTTP/1.1: peeks at the first bytes of each
 * connection and hands it to the h2 server (prior-knowledge preface) or the
 * HTTP/1.1 one. Only used with --proxy-h2c, so the default path has no extra hop.
 */
export function withH2c(h1: http.Server, handler: RequestHandler, limits: ClientTimeouts = {}): { server: Server; h2: http2.Http2Server } {
  const h2 = http2.createServer({ settings: { maxConcurrentStreams: MAX_STREAMS } }, handler)
  closeIdleSessions(h2)
  limitSlowStreams(h2, limits.requestTimeout)
  const server = createServer({ noDelay: true }, (socket: Socket) => {
    // A connection that sends nothing at all gets the same time as a slow request head.
    if (limits.headersTimeout) socket.setTimeout(limits.headersTimeout, () => socket.destroy())
    socket.once('data', (first: Buffer) => {
      socket.setTimeout(0)
      if (first.toString('latin1', 0, PREFACE.length) !== PREFACE) {
        socket.pause()
        socket.unshift(first)
        h1.emit('connection', socket)
        socket.resume()
      } else h2.emit('connection', replaying(socket, first))
    })
    socket.on('error', () => socket.destroy())
  })
  return { server, h2 }
}

/**
 * node:http2 reads a net.Socket's handle natively, so bytes already read (the
 * preface we peeked at) would be lost: it gets a JS stream that starts with them.
 */
function replaying(socket: Socket, first: Buffer): Duplex {
  const d = new Duplex({
    read: () => void socket.resume(),
    write: (chunk: Buffer, _enc, cb) => void socket.write(chunk, cb),
    final: (cb) => void socket.end(cb),
    destroy: (err, cb) => {
      socket.destroy(err ?? undefined)
      cb(err)
    },
  })
  Object.defineProperties(d, { remoteAddress: { value: socket.remoteAddress }, remotePort: { value: socket.remotePort }, localPort: { value: socket.localPort } })
  socket.on('data', (c: Buffer) => d.push(c) || socket.pause())
  socket.on('end', () => d.push(null))
  socket.on('close', () => d.destroy())
  d.push(first)
  return d
}
