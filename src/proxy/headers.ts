/**
 * What the proxy adds to and strips from requests and responses (Fly's
 * X-Forwarded-*, Fly-* and Via headers), the request id, and the error pages
 * the proxy itself answers with.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { STATUS_CODES } from 'node:http'

// Hop-by-hop: they describe one connection, never the next one (RFC 9110 §7.6.1).
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade'])
// A client must not be able to forge what only the proxy says.
const proxyOwned = new Set(['fly-client-ip', 'fly-forwarded-port', 'fly-request-id', 'fly-replay-src', 'fly-region', 'x-forwarded-proto', 'x-forwarded-port', 'x-forwarded-host', 'x-forwarded-ssl'])

const crockford = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
// One getRandomValues call per 256 ids: a syscall-sized call per request showed up in profiles.
const pool = new Uint8Array(16 * 256)
let poolAt = pool.length

/** `<ULID>-<region>`, the shape of Fly's fly-request-id: 48 bits of ms time, 80 random bits. */
export function requestId(region: string): string {
  if (poolAt >= pool.length) {
    crypto.getRandomValues(pool)
    poolAt = 0
  }
  let id = ''
  for (let t = Date.now(), i = 0; i < 10; i++, t = Math.floor(t / 32)) id = crockford[t % 32] + id
  for (let i = 0; i < 16; i++) id += crockford[(pool[poolAt++] as number) & 31]
  return `${id}-${region}`
}

function connectionTokens(h: IncomingHttpHeaders): Set<string> | null {
  const c = h.connection
  return c ? new Set(c.toLowerCase().split(',').map((s) => s.trim())) : null
}

export interface ForwardContext {
  requestId: string
  region: string
  /** Client address as the proxy saw it. */
  clientIp: string
  /** The proxy port the client connected to. */
  port: number
  /** True when the request carries an Upgrade that must reach the machine. */
  upgrade: boolean
}

/** Headers for the request to the machine. */
export function requestHeaders(req: IncomingMessage, ctx: ForwardContext): OutgoingHttpHeaders {
  const extra = connectionTokens(req.headers)
  const out: OutgoingHttpHeaders = {}
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || hopByHop.has(k) || proxyOwned.has(k) || extra?.has(k)) continue
    out[k] = v
  }
  if (ctx.upgrade) {
    out.connection = 'upgrade'
    out.upgrade = req.headers.upgrade
  }
  const xff = req.headers['x-forwarded-for']
  out['x-forwarded-for'] = xff ? `${xff}, ${ctx.clientIp}` : ctx.clientIp
  out['x-forwarded-proto'] = 'http'
  out['x-forwarded-port'] = String(ctx.port)
  out['x-forwarded-ssl'] = 'off'
  if (req.headers.host) out['x-forwarded-host'] = req.headers.host
  out['fly-client-ip'] = ctx.clientIp
  out['fly-forwarded-port'] = String(ctx.port)
  out['fly-region'] = ctx.region
  out['fly-request-id'] = ctx.requestId
  out.via = req.headers.via ? `${req.headers.via}, 1.1 hangar` : '1.1 hangar'
  return out
}

/** Headers for the response to the client: the machine's, minus hop-by-hop and fly-replay, plus Via and the request id. */
export function responseHeaders(res: IncomingMessage, id: string): OutgoingHttpHeaders {
  const extra = connectionTokens(res.headers)
  const out: OutgoingHttpHeaders = {}
  for (const [k, v] of Object.entries(res.headers)) {
    if (v === undefined || hopByHop.has(k) || extra?.has(k) || k === 'fly-replay') continue
    out[k] = v
  }
  out.via = res.headers.via ? `${res.headers.via}, 1.1 hangar` : '1.1 hangar'
  out['fly-request-id'] = id
  return out
}

/** A plain-text page from the proxy itself: what went wrong and the id to find it in the daemon's log. */
export function errorPage(res: ServerResponse, status: number, message: string, id: string): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const body = `${status} ${STATUS_CODES[status] ?? ''}: ${message}\nrequest id: ${id}\n`
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), via: '1.1 hangar', 'fly-request-id': id })
  res.end(body)
}

/** The same page on a raw socket, for Upgrade requests that never got a ServerResponse. */
export function errorPageOnSocket(socket: Socket, status: number, message: string, id: string): void {
  const body = `${status} ${STATUS_CODES[status] ?? ''}: ${message}\nrequest id: ${id}\n`
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `via: 1.1 hangar\r\nfly-request-id: ${id}\r\nconnection: close\r\n\r\n${body}`,
  )
}

/** Serialises a response head for a raw socket (101 answers and refused upgrades). */
export function rawHead(status: number, message: string | undefined, headers: OutgoingHttpHeaders): string {
  let s = `HTTP/1.1 ${status} ${message ?? STATUS_CODES[status] ?? ''}\r\n`
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue
    for (const one of Array.isArray(v) ? v : [v]) s += `${k}: ${one}\r\n`
  }
  return s + '\r\n'
}
