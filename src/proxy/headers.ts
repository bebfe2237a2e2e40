/**
 * What the proxy adds to and strips from requests and responses (Fly's
 * X-Forwarded-*, Fly-* and Via headers), the request id, and the error pages
 * the proxy itself answers with. Request headers are rewritten in one pass over
 * rawHeaders into a flat array: no header object is built on the hot path.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import type { Http2ServerResponse } from 'node:http2'
import type { Socket } from 'node:net'
import { STATUS_CODES } from 'node:http'
import type { RouteKeys } from './target.ts'

// What scanRequest does with a request header, by lowercase name; a name not here is passed on as it is.
const Act = { PASS: 0, HOST: 1, XFF: 2, VIA: 3, FORCED: 4, SESSION: 5, COOKIE: 6, LENGTH: 7, CHUNKED: 8, CONNECTION: 9, UPGRADE: 10, DROP: 11, CACHE_CONTROL: 12, PREFER: 13 } as const
const requestAction = new Map<string, number>([
  ['host', Act.HOST], ['x-forwarded-for', Act.XFF], ['via', Act.VIA], ['fly-force-instance-id', Act.FORCED], ['fly-prefer-instance-id', Act.PREFER], ['mcp-session-id', Act.SESSION],
  ['cookie', Act.COOKIE], ['fly-replay-cache-control', Act.CACHE_CONTROL], ['content-length', Act.LENGTH], ['transfer-encoding', Act.CHUNKED], ['connection', Act.CONNECTION], ['upgrade', Act.UPGRADE],
  // Hop-by-hop: they describe one connection, never the next one (RFC 9110 §7.6.1).
  // `expect` too: the front answers 100-continue itself, the machine gets the body.
  ...['keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'expect', 'http2-settings'].map((n) => [n, Act.DROP] as [string, number]),
  // A client must not be able to forge what only the proxy says.
  ...['fly-client-ip', 'fly-forwarded-port', 'fly-request-id', 'fly-replay-src', 'fly-replay-cache-status', 'fly-preferred-instance-unavailable', 'fly-region', 'x-forwarded-proto', 'x-forwarded-port', 'x-forwarded-host', 'x-forwarded-ssl'].map((n) => [n, Act.DROP] as [string, number]),
])
// The hop-by-hop response headers.
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'http2-settings'])
export const VIA = '1.1 hangar'

const crockford = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
const codes = Uint8Array.from(crockford, (ch) => ch.charCodeAt(0))
// One getRandomValues call per 256 ids: a syscall-sized call per request showed up in profiles.
const pool = new Uint8Array(16 * 256)
let poolAt = pool.length
// The 10 time characters change once per millisecond: computed once per millisecond.
let lastMs = -1
let timePart = ''

/** `<ULID>-<region>`, the shape of Fly's fly-request-id: 48 bits of ms time, 80 random bits. */
export function requestId(region: string): string {
  if (poolAt >= pool.length) {
    crypto.getRandomValues(pool)
    poolAt = 0
  }
  const now = Date.now()
  if (now !== lastMs) {
    lastMs = now
    timePart = ''
    for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) timePart = crockford[t % 32] + timePart
  }
  // One string from 16 char codes: appending char by char made 16 strings per request.
  const p = pool
  const at = poolAt
  poolAt += 16
  const c = (i: number): number => codes[(p[at + i] as number) & 31] as number
  return `${timePart}${String.fromCharCode(c(0), c(1), c(2), c(3), c(4), c(5), c(6), c(7), c(8), c(9), c(10), c(11), c(12), c(13), c(14), c(15))}-${region}`
}

/** One listener's constant part of the forwarded headers, computed once. */
export interface Front {
  proto: 'http' | 'https'
  /** The port clients connected to, as a string (set once the listener is bound). */
  port: string
}

/** What routing needs from a request, and the headers for the machine. */
export interface Scanned {
  /** The request id (Fly-Request-Id), for logs and the events of a machine woken for it. */
  id: string
  host: string | undefined
  /** More than one Host header: RFC 9112 §3.2 says such a request gets a 400 (they could route one way and be read another). */
  twoHosts: boolean
  forced: string | undefined
  /** `fly-prefer-instance-id`: this machine if it can take the request, else any. */
  prefer: string | undefined
  /** Set by routing (target.ts RouteKeys.preferMissed). */
  preferMissed?: string
  session: string | undefined
  /** The Cookie header(s), joined, for sticky_cookie. */
  cookie: string | undefined
  /** The head announces a body (Content-Length or Transfer-Encoding). */
  body: boolean
  /** `fly-replay-cache-control: skip`: the client asks to bypass a cached replay (honoured if the app allowed it). */
  skipCache: boolean
  /** Set by routing: the client skipped a cached replay (forward.ts), so a replay of this request says `bypass`. */
  cache?: 'bypass'
  /** Flat [name, value, …] for the machine. */
  headers: string[]
  /** Set by routing: the machine is the client connection's slot (concurrency.type connections), not released per request. */
  held: boolean
  /** Set by routing (target.ts RouteKeys.client). */
  client: RouteKeys['client']
}

/**
 * One pass over rawHeaders (HTTP/1.1 or HTTP/2 — pseudo-headers are dropped,
 * `:authority` stands in for Host). `upgrade` keeps Connection/Upgrade for a
 * request that must reach the machine as an upgrade.
 */
export function scanRequest(raw: string[], front: Front, ctx: { id: string; region: string; clientIp: string; upgrade: boolean }): Scanned {
  const out: string[] = []
  let host: string | undefined
  let forced: string | undefined
  let prefer: string | undefined
  let session: string | undefined
  let cookie: string | undefined
  let xff: string | undefined
  let via: string | undefined
  let connection: string | undefined
  let upgrade: string | undefined
  let body = false
  let skipCache = false
  let hostSeen = false
  let twoHosts = false
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    const v = raw[i + 1] as string
    const k = name.toLowerCase()
    if (k.charCodeAt(0) === 58 /* ':' */) {
      if (k === ':authority') host ??= v
      continue
    }
    switch (requestAction.get(k) ?? Act.PASS) {
      case Act.PASS:
        break
      case Act.HOST:
        if (hostSeen) twoHosts = true
        hostSeen = true
        host = v
        continue
      case Act.XFF:
        xff = xff === undefined ? v : `${xff}, ${v}`
        continue
      case Act.VIA:
        via = via === undefined ? v : `${via}, ${v}`
        continue
      case Act.FORCED:
        forced = v
        break
      case Act.PREFER:
        prefer = v
        break
      case Act.SESSION:
        session = v
        break
      case Act.COOKIE:
        cookie = cookie === undefined ? v : `${cookie}; ${v}`
        break
      case Act.CACHE_CONTROL:
        skipCache = v.trim().toLowerCase() === 'skip'
        break
      case Act.LENGTH:
        body = true
        break
      case Act.CHUNKED:
        body = true
        continue
      case Act.CONNECTION:
        connection = v
        continue
      case Act.UPGRADE:
        upgrade = v
        continue
      default:
        continue
    }
    out.push(name, v)
  }
  // Headers named in Connection are hop-by-hop too (rare: a second pass only then).
  if (connection) {
    const named = connection.toLowerCase().split(',').map((s) => s.trim()).filter((s) => s && s !== 'close' && s !== 'keep-alive' && s !== 'upgrade')
    if (named.length) {
      for (let i = out.length - 2; i >= 0; i -= 2) if (named.includes((out[i] as string).toLowerCase())) out.splice(i, 2)
    }
  }
  if (host !== undefined) out.push('host', host, 'x-forwarded-host', host)
  if (ctx.upgrade && upgrade) out.push('connection', 'upgrade', 'upgrade', upgrade)
  const https = front.proto === 'https'
  out.push(
    'x-forwarded-for', xff ? `${xff}, ${ctx.clientIp}` : ctx.clientIp,
    'x-forwarded-proto', front.proto,
    'x-forwarded-port', front.port,
    'x-forwarded-ssl', https ? 'on' : 'off',
    'fly-client-ip', ctx.clientIp,
    'fly-forwarded-port', front.port,
    'fly-region', ctx.region,
    'fly-request-id', ctx.id,
    'via', via ? `${via}, ${VIA}` : VIA,
  )
  return { id: ctx.id, host, twoHosts, forced, prefer, session, cookie, body, skipCache, headers: out, held: false, client: undefined }
}

/**
 * Headers for the response to the client, as the flat [name, value, …] list writeHead
 * takes (h1 and h2): the machine's, minus hop-by-hop and fly-replay, plus Via, the
 * request id and the sticky cookie when the service asks for one.
 */
export function responseHead(h: IncomingHttpHeaders, id: string, cookie?: string): string[] {
  const c = h.connection
  // Almost every machine says just keep-alive: no list to split then.
  const named = c && c !== 'keep-alive' ? c.toLowerCase().split(',').map((s) => s.trim()) : null
  const out: string[] = []
  for (const k in h) {
    const v = h[k]
    // The machine's own via and fly-request-id are replaced by the proxy's (via extended), never sent twice.
    if (v === undefined || hopByHop.has(k) || k === 'fly-replay' || k === 'via' || k === 'fly-request-id' || named?.includes(k)) continue
    if (typeof v === 'string') out.push(k, v)
    else for (const one of v) out.push(k, one)
  }
  if (cookie !== undefined) out.push('set-cookie', cookie)
  out.push('via', h.via ? `${h.via}, ${VIA}` : VIA, 'fly-request-id', id)
  return out
}

/** A plain-text page from the proxy itself: what went wrong and the id to find it in the daemon's log. */
export function errorPage(res: ServerResponse | Http2ServerResponse, status: number, message: string, id: string): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const body = `${status} ${STATUS_CODES[status] ?? ''}: ${message}\nrequest id: ${id}\n`
  // h1 and h2 responses share writeHead; TypeScript can't call through the union.
  const r = res as ServerResponse
  r.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), via: VIA, 'fly-request-id': id })
  r.end(body)
}

/** The same page on a raw socket, for Upgrade requests that never got a ServerResponse. */
export function errorPageOnSocket(socket: Socket, status: number, message: string, id: string): void {
  const body = `${status} ${STATUS_CODES[status] ?? ''}: ${message}\nrequest id: ${id}\n`
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `via: ${VIA}\r\nfly-request-id: ${id}\r\nconnection: close\r\n\r\n${body}`,
  )
}

/** Serialises a response head for a raw socket (101 answers and refused upgrades) from a flat [name, value, …] list. */
export function rawHead(status: number, message: string | undefined, headers: string[]): string {
  let s = `HTTP/1.1 ${status} ${message ?? STATUS_CODES[status] ?? ''}\r\n`
  for (let i = 0; i < headers.length; i += 2) s += `${headers[i]}: ${headers[i + 1]}\r\n`
  return s + '\r\n'
}
